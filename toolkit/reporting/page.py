"""The report page: typed content blocks rendered into one static HTML file with Jinja2.

A report is a title, a few facts and a list of :class:`Section` s, each a list of blocks
(:class:`Text`, :class:`Table`, :class:`Figure`, :class:`EpisodeGrid`, :class:`Video`,
:class:`Code`). The template escapes every value (``autoescape``), loads nothing from the
network (the style sheet is inline; no script at all) and refers to files beside it by relative
paths, so the folder can be opened from disk, zipped or served as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from wmhub.fileio import atomic_write_text
from wmhub.reporting.figures import Plot
from wmhub.reporting.thumbnails import EpisodeMedia
from wmhub.version import __version__

PAGE_NAME = "index.html"
_NUMBER = re.compile(r"^[-+−]?[\d,.]+(e[-+]?\d+)?%?( ± [\d.e+-]+)?$")  # right-aligned table cells


@dataclass(frozen=True)
class Text:
    """A paragraph."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    """A table: a header row and rows of cells (already formatted)."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""
    kind: str = "table"


@dataclass(frozen=True)
class Figure:
    """A plot."""

    plot: Plot
    kind: str = "figure"


@dataclass(frozen=True)
class EpisodeGrid:
    """Episode thumbnails, each linking to its video."""

    episodes: list[EpisodeMedia]
    kind: str = "grid"


@dataclass(frozen=True)
class Video:
    """A video (MP4) or an animated image (GIF) played in the page."""

    src: str
    caption: str
    kind: str = "video"

    @property
    def is_gif(self) -> bool:
        return self.src.lower().endswith(".gif")


@dataclass(frozen=True)
class Code:
    """Preformatted text (a recipe, a command); folded under ``summary`` when one is given."""

    text: str
    summary: str = ""
    kind: str = "code"


Block = Text | Table | Figure | EpisodeGrid | Video | Code


@dataclass
class Section:
    """A titled part of the page."""

    anchor: str
    title: str
    blocks: list[Block] = field(default_factory=list)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="wmhub {{ version }}">
<title>{{ title }}</title>
<link rel="icon" href="data:,">
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #c6cbd6; font-size: 13px; }
nav { padding: 8px 32px; background: #e8ebf0; font-size: 13px; }
nav a { margin-right: 14px; color: #1d4f91; text-decoration: none; }
main { padding: 8px 32px 40px 32px; max-width: 1200px; }
section { background: #fff; border-radius: 6px; padding: 12px 20px; margin: 16px 0; box-shadow: 0 1px 2px #0001; }
h2 { font-size: 18px; margin: 6px 0 10px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f1f3f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: top; text-align: left; font-size: 13px; color: #555; padding-bottom: 4px; }
.facts td:first-child { color: #555; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 4px 0; }
figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: #555; margin-top: 2px; max-width: 520px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
.grid a { text-decoration: none; color: #1d2330; font-size: 12px; }
.grid img { width: 96px; height: 96px; display: block; border: 1px solid #dde; image-rendering: pixelated; }
details summary { cursor: pointer; font-size: 14px; margin: 6px 0; }
pre { background: #f1f3f6; padding: 10px; font-size: 12px; overflow-x: auto; }
p { font-size: 14px; line-height: 1.45; }
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p>{{ subtitle }}</p>
</header>
<nav>{% for s in sections %}<a href="#{{ s.anchor }}">{{ s.title }}</a>{% endfor %}</nav>
<main>
{% for s in sections %}
<section id="{{ s.anchor }}">
<h2>{{ s.title }}</h2>
{% set ns = namespace(open=false) %}
{% for b in s.blocks %}
{% if b.kind in ("figure", "video") and not ns.open %}<div class="figures">{% set ns.open = true %}{% endif %}
{% if b.kind not in ("figure", "video") and ns.open %}</div>{% set ns.open = false %}{% endif %}
{% if b.kind == "text" %}<p>{{ b.text }}</p>
{% elif b.kind == "code" and b.summary %}
<details><summary>{{ b.summary }}</summary><pre>{{ b.text }}</pre></details>
{% elif b.kind == "code" %}<pre>{{ b.text }}</pre>
{% elif b.kind == "table" %}<table{% if not b.caption %} class="facts"{% endif %}>
{% if b.caption %}<caption>{{ b.caption }}</caption>{% endif %}
{% if b.headers %}<tr>{% for h in b.headers %}<th>{{ h }}</th>{% endfor %}</tr>{% endif %}
{% for row in b.rows %}<tr>
{% for c in row %}<td{% if not loop.first and c is number_text %} class="num"{% endif %}>{{ c }}</td>{% endfor %}
</tr>
{% endfor %}</table>
{% elif b.kind == "figure" %}
<figure><img src="{{ b.plot.src }}" alt="{{ b.plot.alt }}"><figcaption>{{ b.plot.title }}</figcaption></figure>
{% elif b.kind == "video" %}<figure>
{% if b.is_gif %}<img src="{{ b.src }}" alt="{{ b.caption }}">
{% else %}<video src="{{ b.src }}" controls muted loop preload="metadata" width="320"></video>
{% endif %}
<figcaption>{{ b.caption }}</figcaption></figure>
{% elif b.kind == "grid" %}<div class="grid">
{% for e in b.episodes %}
<a href="{{ e.video }}" title="episode {{ e.episode }}: open its video">
<img src="{{ e.gif }}" alt="episode {{ e.episode }}" width="96" height="96"><br>
episode {{ e.episode }} · return {{ "%.1f"|format(e.episode_return) }}</a>
{% endfor %}</div>
{% endif %}
{% endfor %}
{% if ns.open %}</div>{% endif %}
</section>
{% endfor %}
</main>
</body>
</html>
"""


def render_page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The HTML text of a report page (every value escaped).

    Args:
        title: the page title.
        subtitle: one line under it (what the report is of).
        sections: the content.

    Returns:
        The HTML text.
    """
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.tests["number_text"] = lambda cell: bool(_NUMBER.match(str(cell)))
    return env.from_string(_TEMPLATE).render(title=title, subtitle=subtitle, sections=sections,
                                             version=__version__)


def write_page(out_dir: Path, title: str, subtitle: str, sections: list[Section]) -> Path:
    """Write ``out_dir/index.html`` atomically.

    Args:
        out_dir: the report's folder.
        title: the page title.
        subtitle: one line under it.
        sections: the content.

    Returns:
        The page's path.
    """
    path = out_dir / PAGE_NAME
    atomic_write_text(path, render_page(title, subtitle, sections))
    return path

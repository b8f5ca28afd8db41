"""Plots of the HTML reports, drawn with matplotlib and written byte-reproducibly.

Every figure is a :class:`matplotlib.figure.Figure` made without ``pyplot`` (no global state, no
display). Line plots and histograms become SVG embedded in the page as ``data:`` URIs, so the page
is one file that stays sharp at any zoom; dense scatter plots become PNG files beside the page
(an SVG of 20,000 points is megabytes). Both are written without dates or software stamps and
with a fixed SVG hash salt, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from wmhub.fileio import atomic_write_bytes

# set around each SVG write only, so importing this module leaves the user's matplotlib settings alone
_SVG_SETTINGS = {"svg.hashsalt": "wmhub-report",  # fixed ids: the same figure gives the same bytes
                 "svg.fonttype": "none"}          # text as text: a third of the bytes of glyph paths

WIDTH_IN, HEIGHT_IN = 5.2, 3.0
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


@dataclass(frozen=True)
class Plot:
    """One figure of a report.

    Attributes:
        title: the caption shown above it.
        src: what the page's ``<img src>`` holds: a ``data:image/svg+xml`` URI or a path relative to the page.
        alt: the alternative text (what the figure shows, in words).
    """

    title: str
    src: str
    alt: str


def new_figure(width: float = WIDTH_IN, height: float = HEIGHT_IN) -> Figure:
    """A blank figure of the report's size (no pyplot, no display)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def svg_plot(fig: Figure, title: str, alt: str) -> Plot:
    """The figure as an SVG ``data:`` URI (self-contained, reproducible bytes).

    Args:
        fig: the figure.
        title: its caption.
        alt: its alternative text.

    Returns:
        The :class:`Plot`.
    """
    buf = io.BytesIO()
    with matplotlib.rc_context(_SVG_SETTINGS):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    encoded = base64.b64encode(buf.getvalue()).decode("ascii")
    return Plot(title=title, src=f"data:image/svg+xml;base64,{encoded}", alt=alt)


def png_plot(fig: Figure, out_dir: Path, name: str, title: str, alt: str) -> Plot:
    """The figure as a PNG file ``out_dir/plots/<name>.png`` beside the page.

    Args:
        fig: the figure.
        out_dir: the report's folder.
        name: the file's stem.
        title: its caption.
        alt: its alternative text.

    Returns:
        The :class:`Plot`, its ``src`` relative to the page.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    atomic_write_bytes(out_dir / "plots" / f"{name}.png", buf.getvalue())
    return Plot(title=title, src=f"plots/{name}.png", alt=alt)


def histogram(counts: np.ndarray, edges: np.ndarray, xlabel: str, title: str, *,
              labels: Sequence[str] | None = None, logy: bool = False) -> Plot:
    """Bars of precomputed histogram counts (one row of ``counts`` per series, stacked side by side).

    Args:
        counts: ``[bins]`` or ``[series, bins]``.
        edges: ``[bins + 1]`` bin edges.
        xlabel: the x axis label.
        title: the caption.
        labels: one legend entry per series.
        logy: a logarithmic count axis.

    Returns:
        The SVG :class:`Plot`.
    """
    counts = np.atleast_2d(np.asarray(counts))
    fig = new_figure()
    ax = fig.add_subplot()
    for i, row in enumerate(counts):
        ax.stairs(row, edges, fill=len(counts) == 1, alpha=0.8 if len(counts) == 1 else 1.0,
                  color=COLOURS[i % len(COLOURS)], label=labels[i] if labels else None, linewidth=1.4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    if logy:
        ax.set_yscale("log")
    if labels:
        ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return svg_plot(fig, title, f"histogram of {xlabel}")


def dimension_ranges(names: Sequence[str], mean: np.ndarray, std: np.ndarray, low: np.ndarray, high: np.ndarray,
                     title: str) -> Plot:
    """Per-dimension mean ± std (bars) and min / max (whiskers) of a wide vector feature.

    Args:
        names: one label per dimension.
        mean: per-dimension means.
        std: per-dimension standard deviations.
        low: per-dimension minima.
        high: per-dimension maxima.
        title: the caption.

    Returns:
        The SVG :class:`Plot`.
    """
    x = np.arange(len(names))
    fig = new_figure(width=max(WIDTH_IN, 0.22 * len(names) + 1.5))
    ax = fig.add_subplot()
    ax.vlines(x, low, high, color="#999999", linewidth=1, label="min – max")
    ax.errorbar(x, mean, yerr=std, fmt="o", color=COLOURS[0], markersize=3, capsize=2, label="mean ± std")
    ax.set_xticks(x, names, rotation=90, fontsize=7)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return svg_plot(fig, title, f"per-dimension statistics: {title}")


def _line_plot(fig: Figure, ax: Axes, xlabel: str, ylabel: str, title: str, logy: bool) -> Plot:
    """Label, scale, legend and grid of a line plot, written as SVG (shared by :func:`lines` and :func:`curves`)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return svg_plot(fig, title, f"{ylabel} against {xlabel}")


def lines(x: Sequence[float] | np.ndarray, series: dict[str, Sequence[float]], xlabel: str, ylabel: str, title: str,
          *, logy: bool = False, styles: dict[str, str] | None = None) -> Plot:
    """Line plot of several named series over a common x.

    Args:
        x: the x values.
        series: legend label -> y values (same length as ``x``).
        xlabel: the x axis label.
        ylabel: the y axis label.
        title: the caption.
        logy: a logarithmic y axis.
        styles: legend label -> matplotlib line style (``"--"`` for baselines).

    Returns:
        The SVG :class:`Plot`.
    """
    fig = new_figure()
    ax = fig.add_subplot()
    for i, (label, ys) in enumerate(series.items()):
        ax.plot(x, ys, (styles or {}).get(label, "-"), color=COLOURS[i % len(COLOURS)], label=label, linewidth=1.4)
    return _line_plot(fig, ax, xlabel, ylabel, title, logy)


def curves(series: dict[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str, title: str,
           *, logy: bool = False) -> Plot:
    """Line plot of named series, each with its own x values (training and validation curves).

    Args:
        series: legend label -> (x values, y values).
        xlabel: the x axis label.
        ylabel: the y axis label.
        title: the caption.
        logy: a logarithmic y axis.

    Returns:
        The SVG :class:`Plot`.
    """
    fig = new_figure()
    ax = fig.add_subplot()
    for i, (label, (xs, ys)) in enumerate(series.items()):
        ax.plot(xs, ys, "-o" if len(xs) < 40 else "-", markersize=2.5, color=COLOURS[i % len(COLOURS)],
                label=label, linewidth=1.2)
    return _line_plot(fig, ax, xlabel, ylabel, title, logy)


def bars(labels: Sequence[str], values: Sequence[float], ylabel: str, title: str, *,
         ylim: tuple[float, float] | None = None) -> Plot:
    """A bar chart with the value written on each bar.

    Args:
        labels: one label per bar.
        values: the bar heights.
        ylabel: the y axis label.
        title: the caption.
        ylim: fixed y limits (e.g. ``(0, 1)`` for rates).

    Returns:
        The SVG :class:`Plot`.
    """
    fig = new_figure(width=min(WIDTH_IN, 1.2 + 0.9 * len(labels)))
    ax = fig.add_subplot()
    drawn = ax.bar(range(len(labels)), values, color=COLOURS[0], alpha=0.85)
    ax.bar_label(drawn, fmt="%.3g", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3, axis="y")
    return svg_plot(fig, title, f"{ylabel} per {', '.join(labels)}")


def scatter_png(xy: np.ndarray, colour: np.ndarray, colour_label: str, out_dir: Path, name: str, title: str,
                xlabel: str, ylabel: str) -> Plot:
    """A 2-D scatter coloured by a quantity, written as a PNG beside the page.

    Args:
        xy: ``[N, 2]`` points.
        colour: ``[N]`` values mapped to colour.
        colour_label: the colour bar's label.
        out_dir: the report's folder.
        name: the PNG's stem.
        title: the caption.
        xlabel: the x axis label.
        ylabel: the y axis label.

    Returns:
        The PNG :class:`Plot`.
    """
    fig = new_figure(width=5.2, height=4.0)
    ax = fig.add_subplot()
    points = ax.scatter(xy[:, 0], xy[:, 1], c=colour, s=3, cmap="viridis", linewidths=0, rasterized=True)
    fig.colorbar(points, ax=ax, label=colour_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return png_plot(fig, out_dir, name, title, f"{title}, coloured by {colour_label}")

"""The dataset card (README.md): YAML metadata for the Hub plus a readable body.

The YAML ``configs`` block is what makes plain ``datasets.load_dataset(dir)``
and ``load_dataset(dir, "<config>")`` work, streaming included. The body is
rendered from a Jinja2 template in ``dataset_cards/`` with figures computed
from the data (nothing in a card is typed by hand). No timestamps: the card
is part of the byte-identical output.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
import yaml

from toolkit.data.layout import CARD_NAME, DATA_DIR, STEPS_CONFIG
from toolkit.data.manifest import Manifest
from toolkit.data.summary import summarize
from toolkit.fileio import atomic_write_text


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return name
    return "10M<n<100M"


def card_metadata(manifest: Manifest) -> dict:
    """The card's YAML header."""
    configs = []
    for cfg in manifest.configs:
        if cfg.format != "parquet":  # e.g. WebDataset frames: read with webdataset, listed in the body
            continue
        entry = {"config_name": cfg.name}
        if cfg.name == STEPS_CONFIG:
            entry["default"] = True
        entry["data_files"] = [{"split": "train", "path": f"{DATA_DIR}/{cfg.name}/*.parquet"}]
        configs.append(entry)
    return {
        "license": "apache-2.0",
        "task_categories": ["robotics"],
        "tags": ["wmhub", "world-models", manifest.generator.env, "mujoco"],
        "size_categories": [_size_category(manifest.num_rows(STEPS_CONFIG))],
        "configs": configs,
    }


def load_template(name: str) -> jinja2.Template:
    """A card template from ``dataset_cards/``."""
    text = resources.files("toolkit.dataset_cards").joinpath(name).read_text(encoding="utf-8")
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(text)


def render_dataset_card(root: Path, manifest: Manifest, template: str) -> str:
    """Full README.md text for the dataset in ``root``."""
    header = yaml.safe_dump(card_metadata(manifest), sort_keys=False, allow_unicode=True)
    body = load_template(template).render(manifest=manifest, summary=summarize(root, manifest))
    return f"---\n{header}---\n\n{body}"


def write_dataset_card(root: Path, manifest: Manifest, spec) -> None:
    """Write README.md atomically."""
    atomic_write_text(root / CARD_NAME, render_dataset_card(root, manifest, spec.card_template))

"""The dataset card (README.md): YAML metadata for the Hub plus a readable body.

Rendered with ``huggingface_hub``'s ``DatasetCard.from_template`` and
``DatasetCardData`` from a Jinja2 template in ``dataset_cards/``, filled only
with figures computed from the manifest and the data (nothing typed by hand).
The YAML ``configs`` block is what makes plain ``datasets.load_dataset(dir)``
and ``load_dataset(dir, "<config>")`` work, streaming included. No
timestamps: the card is part of the byte-identical output, and it is
regenerated on every publish so its statistics stay exact after appends.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from wmhub.data.layout import CARD_NAME, STEPS_CONFIG
from wmhub.data.manifest import Manifest
from wmhub.data.summary import summarize
from wmhub.fileio import atomic_write_text


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return name
    return "10M<n<100M"


def datasets_configs(manifest: Manifest) -> list[dict]:
    """The YAML ``configs`` entries: every parquet config with its shard files listed one by one.

    Explicit lists rather than a ``data/<config>/*.parquet`` glob, measured: ``datasets`` keys
    its cache of a local directory on the YAML, not on the files a glob matches, so after a grow
    ``load_dataset(dir)`` kept returning the old rows (248 of 372 on a test dataset); with the
    files listed, the YAML changes with every append and so does the cache key.
    """
    configs = []
    for cfg in manifest.configs:
        files = [s.path for s in manifest.shards_of(cfg.name)]
        if cfg.format != "parquet" or not files:  # WebDataset frames are listed in the body; a partial
            continue                                # download may hold no shard of a config
        entry = {"config_name": cfg.name}
        if cfg.name == STEPS_CONFIG:
            entry["default"] = True
        entry["data_files"] = [{"split": "train", "path": files}]
        configs.append(entry)
    return configs


def with_configs_of(card_text: str, manifest: Manifest) -> str:
    """``card_text`` with its YAML ``configs`` replaced by those of ``manifest`` (a partial download's)."""
    from huggingface_hub import DatasetCard

    card = DatasetCard(card_text)
    card.data.configs = datasets_configs(manifest)
    return str(card)


def card_metadata(manifest: Manifest):
    """The card's YAML header."""
    configs = datasets_configs(manifest)
    from huggingface_hub import DatasetCardData

    return DatasetCardData(license="apache-2.0", task_categories=["robotics"],
                           tags=["wmhub", "world-models", manifest.generator.env, "mujoco"],
                           size_categories=[_size_category(manifest.num_rows(STEPS_CONFIG))], configs=configs)


def load_template(name: str) -> str:
    """A card template's text from ``dataset_cards/``."""
    return resources.files("wmhub.dataset_cards").joinpath(name).read_text(encoding="utf-8")


def episode_statistics(root: Path, manifest: Manifest) -> dict[str, dict[str, float]]:
    """Mean / min / max / sum / median of every scalar numeric or bool column of ``episodes``
    (e.g. ``episodes.fell.mean`` is a fall rate), for card templates."""
    import numpy as np

    from wmhub.data.summary import episode_table

    table = episode_table(root, manifest)
    stats = {}
    for name in table.column_names:
        values = table.column(name).to_numpy(zero_copy_only=False)
        if values.ndim != 1 or values.dtype.kind not in "biuf" or len(values) == 0:
            continue
        values = values.astype(np.float64)
        stats[name] = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
                       "sum": float(values.sum()), "p50": float(np.median(values))}
    return stats


def render_dataset_card(root: Path, manifest: Manifest, template: str, *, repo_id: str | None = None,
                        directory: str | None = None) -> str:
    """Full README.md text for the dataset in ``root``.

    ``repo_id`` (Hub) or ``directory`` (local hub) is where the card will live, for the
    loading snippet; with neither, the card names no path, so its bytes do not depend on
    where the data was generated.
    """
    if repo_id:
        load_path, local_path = repo_id, repo_id.split("/")[-1]
        hint = f"after: wmhub download hf://datasets/{repo_id} {local_path}"
    else:
        load_path = local_path = directory or "path/to/this/dataset"
        hint = "a local directory"
    from huggingface_hub import DatasetCard

    encoders = [c for c in manifest.configs if "identity" in c.extra and c.name.startswith("embeddings-")]
    card = DatasetCard.from_template(card_metadata(manifest), template_str=load_template(template),
                                     manifest=manifest, summary=summarize(root, manifest), encoders=encoders,
                                     load_path=load_path, local_path=local_path, download_hint=hint,
                                     episodes=episode_statistics(root, manifest))
    return str(card).rstrip("\n") + "\n"


def write_dataset_card(root: Path, manifest: Manifest, spec) -> None:
    """Write README.md atomically."""
    atomic_write_text(root / CARD_NAME, render_dataset_card(root, manifest, spec.card_template))

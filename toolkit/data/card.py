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
from typing import Any

from wmhub.data.layout import CARD_NAME, EMBEDDINGS_PREFIX, STEPS_CONFIG
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
    card.data.dataset_info = dataset_info(manifest)  # num_examples must match the rows held
    return str(card)


DEFAULT_LICENSE = "apache-2.0"
# the license identifiers the Hub accepts in a card's ``license:`` (huggingface.co/docs/hub/repositories-licenses);
# ``other`` is left out: it needs a ``license_name`` and a LICENSE file, which a flag cannot supply
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib
pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 gemma unknown
""".split())


def check_license(value: str) -> str:
    """A Hub license identifier, normalised (``Apache-2.0`` → ``apache-2.0``), or a clear error.

    Args:
        value: the license as given (``--license``); SPDX spellings are accepted in any case.

    Returns:
        The identifier the Hub lists (``apache-2.0``, ``cc-by-4.0``, ``odc-by``, ...).

    Raises:
        ConfigError: not a license the Hub lists; the message names the closest ones.

    Example:
        >>> check_license("CC-BY-4.0")
        'cc-by-4.0'
    """
    import difflib

    from wmhub.errors import ConfigError

    normalised = value.strip().lower()
    if normalised in HUB_LICENSES:
        return normalised
    close = difflib.get_close_matches(normalised, sorted(HUB_LICENSES), n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ConfigError(f"--license {value!r} is not a license id the Hub lists; {hint}use one of "
                      "huggingface.co/docs/hub/repositories-licenses (e.g. apache-2.0, mit, cc-by-4.0, odc-by)")


def card_license(root: Path) -> str:
    """The license in the card of the dataset in ``root`` (``README.md``), else :data:`DEFAULT_LICENSE`, so a
    license chosen once (``generate --license``) stays when the card is rendered again (appends, publish)."""
    from huggingface_hub import DatasetCard

    path = Path(root) / CARD_NAME
    if not path.is_file():
        return DEFAULT_LICENSE
    try:
        value = DatasetCard(path.read_text(encoding="utf-8")).data.license
    except Exception:  # noqa: BLE001 - an unreadable card keeps no license; it is replaced by the render
        return DEFAULT_LICENSE
    return value if isinstance(value, str) and value.lower() in HUB_LICENSES else DEFAULT_LICENSE
# the card's title (H1 and YAML ``pretty_name``) per template, followed by the policy and ε of the data
TITLES = {"reacher.md": "reacher-easy rollouts", "spot.md": "Spot joystick rollouts"}
_BIT_DTYPES = {"bool"}  # stored as one bit per value in Arrow


def pretty_name(manifest: Manifest, template: str) -> str:
    """The card's title: what the data is, with its policy and ε (``reacher-easy rollouts (p-controller, ε = 0.3)``).

    Args:
        manifest: the dataset's manifest.
        template: the card template's name in ``dataset_cards/`` (``reacher.md``).

    Returns:
        The title, also the YAML ``pretty_name``.
    """
    config = manifest.generator.config
    title = TITLES.get(template, f"{manifest.generator.env} rollouts")
    return f"{title} ({config.get('policy', 'unknown policy')}, ε = {config.get('epsilon', 0)})"


def _yaml_feature(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    """One feature in the Hub's ``dataset_info`` YAML form: ``dtype`` for a scalar, a ``sequence`` with a
    ``length`` per fixed-size axis (outermost first), the form every ``datasets`` release since 2.x reads."""
    inner: Any = dtype
    for length in reversed(shape[1:]):
        inner = {"sequence": inner, "length": length}
    if not shape:
        return {"name": name, "dtype": dtype}
    return {"name": name, "sequence": inner, "length": shape[0]}


def _value_bytes(dtype: str, shape: list[int], rows: int) -> int:
    """Bytes of the decoded values of a fixed-size column (validity bitmaps excluded)."""
    import numpy as np

    values = rows * int(np.prod(shape, dtype=np.int64)) if shape else rows
    return (values + 7) // 8 if dtype in _BIT_DTYPES else values * np.dtype(dtype).itemsize


def dataset_info(manifest: Manifest) -> list[dict[str, Any]]:
    """The YAML ``dataset_info``: per parquet config, its features (from the manifest), its one ``train``
    split (``num_examples`` = rows held, ``num_bytes`` = decoded values), ``download_size`` (parquet bytes)
    and ``dataset_size``.

    ``datasets.load_dataset`` checks ``num_examples`` against the rows it reads, so the entries follow the
    shards that ``manifest`` lists (a partial download's manifest gives a partial ``dataset_info``).

    Args:
        manifest: the dataset's manifest.

    Returns:
        One entry per config listed in ``datasets_configs(manifest)``.

    Example:
        >>> dataset_info(Manifest.read("data/reacher"))[0]["features"][2]  # doctest: +SKIP
        {'name': 'position', 'sequence': 'float32', 'length': 2}
    """
    listed = {entry["config_name"] for entry in datasets_configs(manifest)}
    info = []
    for cfg in manifest.configs:
        if cfg.name not in listed:
            continue
        shards = manifest.shards_of(cfg.name)
        rows = sum(s.num_rows for s in shards)
        size = sum(_value_bytes(f.dtype, f.shape, rows) for f in cfg.features)
        info.append({"config_name": cfg.name,
                     "features": [_yaml_feature(f.name, f.dtype, f.shape) for f in cfg.features],
                     "splits": [{"name": "train", "num_bytes": size, "num_examples": rows}],
                     "download_size": sum(s.num_bytes for s in shards), "dataset_size": size})
    return info


def card_metadata(manifest: Manifest, template: str = "", *, license: str = DEFAULT_LICENSE):
    """The card's YAML header: license, task, tags, size, ``pretty_name``, ``configs`` and ``dataset_info``.

    Args:
        manifest: the dataset's manifest.
        template: the card template's name (for ``pretty_name``).
        license: the Hub license id of the data (``apache-2.0``, ``cc-by-4.0``, ...).

    Returns:
        The ``huggingface_hub.DatasetCardData``.
    """
    from huggingface_hub import DatasetCardData

    return DatasetCardData(license=license, pretty_name=pretty_name(manifest, template),
                           task_categories=["robotics"],
                           tags=["wmhub", "world-models", manifest.generator.env, "mujoco"],
                           size_categories=[_size_category(manifest.num_rows(STEPS_CONFIG))],
                           configs=datasets_configs(manifest), dataset_info=dataset_info(manifest))


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
                        directory: str | None = None, license: str | None = None) -> str:
    """Full README.md text for the dataset in ``root``.

    Args:
        root: the dataset directory (its ``episodes`` shards are read for the statistics).
        manifest: its manifest.
        template: the card template's name in ``dataset_cards/``.
        repo_id: the Hub repository the card will live in, for the loading snippet.
        directory: the local hub directory it will live in; with neither, the card names no
            path, so its bytes do not depend on where the data was generated.
        license: the Hub license id of the data (:func:`check_license`); default: the license of the card
            already in ``root`` (:func:`card_license`), else ``apache-2.0``.

    Returns:
        The card's text.

    Raises:
        ConfigError: ``license`` is not a license id the Hub lists.

    Example:
        >>> text = render_dataset_card(Path("d"), Manifest.read("d"), "reacher.md")  # doctest: +SKIP
    """
    license = check_license(license) if license is not None else card_license(root)
    if repo_id:
        load_path, open_path = repo_id, f"hf://datasets/{repo_id}"
        hint = "fetches only the shards it needs; add @<tag> for a version"
    else:
        load_path = open_path = directory or "path/to/this/dataset"
        hint = "a local directory"
    from huggingface_hub import DatasetCard

    encoders = [c for c in manifest.configs if "identity" in c.extra and c.name.startswith(EMBEDDINGS_PREFIX)]
    card = DatasetCard.from_template(card_metadata(manifest, template, license=license),
                                     template_str=load_template(template), pretty_name=pretty_name(manifest, template),
                                     manifest=manifest, summary=summarize(root, manifest), encoders=encoders,
                                     load_path=load_path, open_path=open_path, download_hint=hint,
                                     episodes=episode_statistics(root, manifest))
    return str(card).rstrip("\n") + "\n"


def write_dataset_card(root: Path, manifest: Manifest, spec, *, license: str | None = None) -> None:
    """Write README.md atomically (``license``: see :func:`render_dataset_card`; default: the card's own)."""
    atomic_write_text(root / CARD_NAME, render_dataset_card(root, manifest, spec.card_template, license=license))

"""``wmhub push``: a trained run's checkpoint, card, evaluation and provenance, in one commit.

The repository (``hf://<org>/<name>`` or a local hub directory) receives
``model.safetensors`` + ``config.json`` at its root (so ``from_pretrained`` and
:func:`wmhub.models.load_model` read it directly), ``README.md`` (the model
card), ``eval_results.json``, ``eval/*.png``, ``recipe.yaml``, ``metrics.jsonl``,
``summary.json`` and ``split.json``. A tag marks the pushed commit and never moves.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from wmhub.errors import WmhubError
from wmhub.fileio import atomic_write_bytes
from wmhub.models.card import render_model_card
from wmhub.storage.location import HubRepo, parse_location
from wmhub.storage.stores import LocalHubStore, open_store

TAGS_DIR = ".wmhub-tags"


@dataclass
class PushResult:
    destination: str
    revision: str
    files: list[str]
    tag: str | None


def run_files(run_dir: Path) -> dict[str, Path]:
    """Repository path → local file, for everything a push uploads (card excluded)."""
    files = {"config.json": run_dir / "model" / "config.json",
             "model.safetensors": run_dir / "model" / "model.safetensors"}
    for name in ("recipe.yaml", "metrics.jsonl", "summary.json", "split.json"):
        files[name] = run_dir / name
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise WmhubError(f"{run_dir} is not a finished run (missing {', '.join(missing)}); run `wmhub train` first")
    results = run_dir / "eval" / "eval_results.json"
    if results.is_file():
        files["eval_results.json"] = results
    for plot in sorted((run_dir / "eval").glob("*.png")) if (run_dir / "eval").is_dir() else []:
        files[f"eval/{plot.name}"] = plot
    return files


def push_run(run_dir: str | Path, dest: str, *, tag: str | None = None, private: bool = False,
             message: str | None = None) -> PushResult:
    """Push ``run_dir`` to ``dest`` (see the module docstring)."""
    from wmhub.eval.runner import write_training_curve

    run_dir = Path(run_dir)
    location = parse_location(dest)
    if isinstance(location, HubRepo) and location.repo_type != "model":
        raise WmhubError(f"{dest} is a dataset repo; push checkpoints to a model repo hf://<org>/<name>")
    if isinstance(location, Path) and (location / "manifest.json").is_file():
        raise WmhubError(f"{location} holds a dataset; push the checkpoint to another directory")
    write_training_curve(run_dir)
    files = run_files(run_dir)
    card = render_model_card(run_dir, repo_ref=str(location) if isinstance(location, HubRepo) else str(dest))
    store = open_store(location)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    text = message or f"wmhub push: {summary['recipe']} ({summary['model_class']}, {summary['steps']} steps)"
    revision = store.commit(files, {"README.md": str(card)}, text, private)
    if tag:
        if isinstance(store, LocalHubStore):
            _tag_local(store.root, tag, [*files, "README.md"])
        else:
            existing = store.tags()
            if tag in existing and existing[tag] != revision:
                raise WmhubError(f"tag {tag!r} already marks another commit of {dest} ({existing[tag][:12]}); "
                                 "tags are never moved: choose a new tag")
            if tag not in existing:
                store.create_tag(tag, revision)
    return PushResult(store.describe(), revision, sorted([*files, "README.md"]), tag)


def _tag_local(root: Path, tag: str, paths: list[str]) -> None:
    """A local tag is a frozen copy of the pushed files under ``.wmhub-tags/<tag>/``."""
    target = root / TAGS_DIR / tag
    if target.exists():
        same = all((target / p).is_file() and (target / p).read_bytes() == (root / p).read_bytes() for p in paths)
        if same:
            return
        raise WmhubError(f"tag {tag!r} already exists in {root} for other files; tags are never moved")
    tmp = root / TAGS_DIR / f".tmp-{tag}"
    shutil.rmtree(tmp, ignore_errors=True)
    for p in paths:
        atomic_write_bytes(tmp / p, (root / p).read_bytes())
    tmp.replace(target)


def read_pushed(source: str, name: str) -> str:
    """The text of file ``name`` of a checkpoint pushed with `wmhub push` (``hf://`` or a local hub directory)."""
    location = parse_location(source)
    if isinstance(location, HubRepo):
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return Path(hf_hub_download(location.repo_id, name, revision=location.revision)).read_text("utf-8")
        except EntryNotFoundError as exc:
            raise WmhubError(f"{source} has no {name}; was it pushed with `wmhub push`?") from exc
    path = location / name
    if not path.is_file():
        raise WmhubError(f"{source} has no {name}; was it pushed with `wmhub push`?")
    return path.read_text(encoding="utf-8")

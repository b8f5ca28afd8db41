"""Reading the files of a checkpoint pushed with ``wmhub push`` (``hf://org/name[@rev]`` or a local hub directory)."""

from __future__ import annotations

from pathlib import Path

from wmhub.errors import NotFoundError
from wmhub.fileio import resolve_inside
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, parse_location
from wmhub.storage.stores import open_store

TAGS_DIR = ".wmhub-tags"  # a local hub keeps each tag as a frozen copy of the pushed files


def read_pushed(source: str, name: str) -> str:
    """The text of file ``name`` of a pushed checkpoint.

    Args:
        source: ``hf://<org>/<name>[@rev]``, a local hub directory (``DIR@tag`` for a tag) or an fsspec URL.
        name: a path in the repository (``summary.json``, ``recipe.yaml``, ...).

    Returns:
        The file's text.

    Raises:
        NotFoundError: the repository has no such file.

    Example:
        >>> read_pushed("hf://my-org/tiny-dynamics@v1.0", "recipe.yaml")  # doctest: +SKIP
    """
    location = parse_location(source)
    if isinstance(location, HubRepo):
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            return Path(hf_hub_download(location.repo_id, name, revision=location.revision)).read_text("utf-8")
        except EntryNotFoundError as exc:
            raise NotFoundError(f"{source} has no {name}; was it pushed with `wmhub push`?") from exc
    if isinstance(location, FsspecURL):
        store = open_store(location)
        data = store.read_bytes(name, store.resolve(None))
        if data is None:
            raise NotFoundError(f"{source} has no {name}; was it pushed with `wmhub push`?")
        return data.decode("utf-8")
    root, revision = (location.path, location.revision) if isinstance(location, LocalDir) else (Path(location), None)
    path = resolve_inside(root / TAGS_DIR / revision if revision else root, name)
    if not path.is_file():
        raise NotFoundError(f"{source} has no {name}; was it pushed with `wmhub push`?")
    return path.read_text(encoding="utf-8")

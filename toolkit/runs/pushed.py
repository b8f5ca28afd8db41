"""Reading the files of a checkpoint pushed with ``wmhub push`` (``hf://org/name[@rev]`` or a local hub directory)."""

from __future__ import annotations

from pathlib import Path

from wmhub.errors import NotFoundError
from wmhub.fileio import resolve_inside
from wmhub.storage.location import FsspecURL, HubRepo, LocalDir, parse_location
from wmhub.storage.stores import HfHubStore, open_store

TAGS_DIR = ".wmhub-tags"  # a local hub keeps each tag as a frozen copy of the pushed files


NOT_PUSHED_HINT = "was it pushed with `wmhub push`?"


def read_pushed(source: str, name: str, *, missing_hint: str = NOT_PUSHED_HINT) -> str:
    """The text of file ``name`` of a pushed checkpoint.

    Args:
        source: ``hf://<org>/<name>[@rev]``, a local hub directory (``DIR@tag`` for a tag) or an fsspec URL.
        name: a path in the repository (``summary.json``, ``recipe.yaml``, ...).
        missing_hint: the fix named when the repository has no ``name`` (e.g. for a file
            that only some pushes carry, such as evaluation results).

    Returns:
        The file's text.

    Raises:
        NotFoundError: no such repository, revision or directory, or the repository has no such file.
        TransferError: the Hub (or fsspec server) cannot be reached; never reported as a missing file.

    Example:
        >>> read_pushed("hf://my-org/tiny-dynamics@v1.0", "recipe.yaml")  # doctest: +SKIP
    """
    location = parse_location(source)
    if isinstance(location, HubRepo):
        store = HfHubStore(location)
        commit = store.resolve(location.revision)  # NotFoundError / TransferError: one line each
        if not commit:
            raise NotFoundError(f"{source}: repository not found (or you lack access: log in with `hf auth login` "
                                "or set HF_TOKEN)")
        data = store.read_bytes(name, commit)
        if data is None:
            raise NotFoundError(f"{source} has no {name}; {missing_hint}")
        return data.decode("utf-8")
    if isinstance(location, FsspecURL):
        store = open_store(location)
        data = store.read_bytes(name, store.resolve(None))
        if data is None:
            raise NotFoundError(f"{source} has no {name}; {missing_hint}")
        return data.decode("utf-8")
    root, revision = (location.path, location.revision) if isinstance(location, LocalDir) else (Path(location), None)
    if not root.is_dir():
        raise NotFoundError(f"{source}: no such directory; pass a local hub directory or hf://<org>/<name>")
    path = resolve_inside(resolve_inside(root / TAGS_DIR, revision) if revision else root, name)
    if not path.is_file():
        raise NotFoundError(f"{source} has no {name}; {missing_hint}")
    return path.read_text(encoding="utf-8")

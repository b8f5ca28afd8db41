"""``wmhub publish OUT hf://datasets/<org>/<name>`` of a LeRobot export: a repo ``LeRobotDataset`` downloads.

The second step of ``wmhub export DIR OUT --format lerobot --repo-id org/name``: every file of the
export in one commit, then the tag LeRobot looks for, its codebase version ``v3.0``
(``LeRobotDataset(repo_id)`` asks for revision ``v3.0``). Tags never move: a repo that already
has a ``v3.0`` tag is refused before anything is committed (publish a changed export to a new repo).
"""

from __future__ import annotations

import json
from pathlib import Path

from wmhub.errors import AlreadyExistsError, ConfigError, UnsupportedLocationError
from wmhub.hub.publish import PublishResult
from wmhub.interop.lerobot import CODEBASE_VERSION
from wmhub.storage.location import HubRepo, parse_location
from wmhub.storage.stores import open_store

INFO_PATH = "meta/info.json"


def is_lerobot_export(path: str | Path) -> bool:
    """Whether ``path`` is a LeRobotDataset directory (``meta/info.json``, no wmhub ``manifest.json``).

    Args:
        path: a local directory.

    Returns:
        True for a LeRobot export.

    Example:
        >>> is_lerobot_export("out/reacher-lerobot")  # doctest: +SKIP
        True
    """
    path = Path(path)
    return (path / INFO_PATH).is_file() and not (path / "manifest.json").exists()


def publish_lerobot(src: str | Path, dest: str, *, private: bool = False, message: str | None = None) -> PublishResult:
    """Upload the LeRobot export ``src`` to the Hub dataset repo ``dest`` and tag it ``v3.0``.

    Args:
        src: a directory written by ``wmhub export --format lerobot``.
        dest: ``hf://datasets/<org>/<name>`` (``HF_ENDPOINT`` selects the server).
        private: create a new repo as private.
        message: the commit message.

    Returns:
        The :class:`~wmhub.hub.publish.PublishResult` (``tag`` is ``v3.0``).

    Raises:
        UnsupportedLocationError: ``dest`` is not a Hub dataset repo, or names a revision.
        ConfigError: ``src`` is not a LeRobot v3.0 export, or holds a symbolic link.
        AlreadyExistsError: ``dest`` already has a ``v3.0`` tag.

    Example:
        >>> publish_lerobot("out/reacher-lerobot", "hf://datasets/my-lab/reacher-100k")  # doctest: +SKIP
    """
    src = Path(src)
    if not is_lerobot_export(src):
        raise ConfigError(f"{src} is not a LeRobot export (no {INFO_PATH}); write one with "
                          "`wmhub export DIR OUT --format lerobot --repo-id ORG/NAME`")
    try:
        version = json.loads((src / INFO_PATH).read_text()).get("codebase_version")
    except (ValueError, AttributeError) as err:
        raise ConfigError(f"{src / INFO_PATH} is not a LeRobot info.json ({err}); export again with "
                          "`wmhub export DIR OUT --format lerobot`") from err
    if version != CODEBASE_VERSION:
        raise ConfigError(f"{src} is a LeRobot {version} dataset; wmhub publishes {CODEBASE_VERSION} exports "
                          "(export again with this wmhub)")
    links = [p for p in src.rglob("*") if p.is_symlink()]
    if links:  # an export holds plain files only; a link could upload anything it points at
        raise ConfigError(f"{links[0]} is a symbolic link; a LeRobot export holds plain files only: export again "
                          "into a new directory")
    location = parse_location(dest, repo_type="dataset")
    if not isinstance(location, HubRepo) or location.repo_type != "dataset" or location.revision:
        raise UnsupportedLocationError(f"{dest}: a LeRobot export is published to a Hub dataset repo, "
                                       "hf://datasets/<org>/<name> (no @revision)")
    store = open_store(location)
    head = store.resolve(None)
    if CODEBASE_VERSION in store.tags():
        raise AlreadyExistsError(f"tag {CODEBASE_VERSION} already marks another version of {store.describe()}; "
                                 "tags are never moved: publish this export to a new repo")
    files = {p.relative_to(src).as_posix(): p for p in sorted(src.rglob("*")) if p.is_file()}
    summary = message or f"wmhub export --format lerobot: {len(files)} files"
    revision = store.commit(files, {}, summary, private, parent=head)
    store.create_tag(CODEBASE_VERSION, revision)
    data = [p for p in files if p.startswith("data/")]
    return PublishResult(destination=store.describe(), revision=revision, uploaded=data, skipped=0,
                         bytes_uploaded=sum(files[p].stat().st_size for p in data),
                         bytes_metadata=sum(f.stat().st_size for p, f in files.items() if p not in data),
                         tag=CODEBASE_VERSION, noop=False)

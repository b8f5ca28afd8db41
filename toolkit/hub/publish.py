"""Publishing a dataset, or only its new shards, to a Hub dataset repo, a local hub or an fsspec URL.

Rules (each tested):

* the first publish uploads everything;
* a later publish of the same dataset uploads only shards the destination
  lacks (by path and SHA-256), plus the regenerated card and the manifest,
  in one commit (Hub) or under a lock with the manifest replaced last (local);
* re-running a publish is a no-op;
* a shard present remotely with another checksum is an error, and so is a
  remote shard this directory lacks: nothing is overwritten or dropped;
* ``--tag`` marks the published version; an existing tag is never moved
  (re-tagging the same revision is a no-op), and a tag that would have to move is refused
  before anything is committed. On a Hub dataset repo a version name is stored as
  ``data-<name>`` (``--tag v1.0`` creates ``data-v1.0``; ``@v1.0`` reads it, or an older plain
  ``v1.0``), so that LeRobot does not read it as its codebase version (:mod:`wmhub.storage.tags`).
  An fsspec URL keeps no tags: ``--tag`` there is refused first.
  Tag names are checked like git ref names before anything is read or written;
* writers to one destination serialise: a local hub is locked from reading its manifest to the
  last rename (a second publisher waits); a Hub commit is made on the commit it was planned on
  (``parent_commit``), and when another writer got there first the publish reads the
  destination again and re-plans (a few times), so a publish never undoes another's;
* a publish never moves a dataset backwards: fewer episodes than the destination holds, or a
  manifest lacking one of the destination's shards, is refused; so is a partial download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wmhub.data.card import check_license, render_dataset_card
from wmhub.data.layout import CARD_NAME
from wmhub.data.manifest import MANIFEST_NAME, Manifest
from wmhub.data.verify import verify_dataset
from wmhub.envs.registry import get_spec
from wmhub.errors import AlreadyExistsError, ChecksumMismatchError, ConfigError, DatasetMismatchError
from wmhub.fileio import dumps_json, resolve_inside
from wmhub.hub.source import read_manifest
from wmhub.storage.location import HubRepo, LocalDir, Location, check_ref_name
from wmhub.storage.stores import CommitConflict, Store, open_store
from wmhub.storage.tags import dataset_tag

COMMIT_ATTEMPTS = 5
"""Plans of one publish to a Hub repo that other writers moved meanwhile (each re-reads the destination)."""


@dataclass
class PublishResult:
    """What a publish did.

    Attributes:
        destination: the destination, as its store names it.
        revision: the revision now published (a commit id on the Hub, ``latest`` elsewhere).
        uploaded: paths of the shards uploaded by this run.
        skipped: shards already there.
        bytes_uploaded: size of the uploaded shards.
        bytes_metadata: size of the card and manifest written (0 for a no-op).
        tag: the tag asked for.
        noop: nothing was written.
    """

    destination: str
    revision: str
    uploaded: list[str]
    skipped: int
    bytes_uploaded: int
    bytes_metadata: int
    tag: str | None
    noop: bool


def _same_dataset(local: Manifest, remote: Manifest, where: str) -> None:
    if local.format_version != remote.format_version:
        raise DatasetMismatchError(f"{where} holds format_version {remote.format_version} data, this directory "
                                   f"{local.format_version}; a dataset keeps its format: download it, grow the "
                                   "download, publish that")
    if not local.same_dataset_as(remote):
        raise DatasetMismatchError(f"{where} holds a different dataset ({remote.generator.command}); publish to "
                                   "another destination")


def plan_upload(local: Manifest, remote: Manifest | None, where: str) -> list[str]:
    """Paths of the local shards the destination lacks; raises on conflicts."""
    if remote is None:
        return [s.path for s in local.shards]
    _same_dataset(local, remote, where)
    if local.num_episodes < remote.num_episodes:
        raise DatasetMismatchError(f"{where} holds {remote.num_episodes} episodes, this directory "
                                   f"{local.num_episodes}: a publish never moves a dataset backwards; download "
                                   "the published dataset, grow it, then publish")
    mine = {s.path: s for s in local.shards}
    for shard in remote.shards:
        if shard.path not in mine:
            raise DatasetMismatchError(f"{where} has shard {shard.path} that this directory lacks (someone else "
                                       "appended); download the published dataset, grow it, then publish")
        if mine[shard.path].sha256 != shard.sha256:
            raise ChecksumMismatchError(f"shard {shard.path} exists in {where} with a different SHA-256 "
                                        f"({shard.sha256[:12]}… there, {mine[shard.path].sha256[:12]}… here); "
                                        "nothing was uploaded or overwritten")
    published = {s.path for s in remote.shards}
    return [s.path for s in local.shards if s.path not in published]


def _check_tag(store: Store, tag: str, head: str, committing: bool) -> bool:
    """Whether ``tag`` still has to be created; raises, before anything is committed, when it exists
    and would have to move (it marks another revision, or a new commit is about to be made)."""
    existing = store.tags()
    if tag not in existing:
        return True
    if committing or not head or existing[tag] != store.revision_id(head):
        raise AlreadyExistsError(f"tag {tag!r} already marks another version of {store.describe()} "
                                 f"({existing[tag][:12]}); tags are never moved: choose a new tag")
    return False


def publish_to(src: Path, location: Location, *, tag: str | None = None, private: bool = False,
               message: str | None = None, license: str | None = None) -> PublishResult:
    """Publish the local dataset directory ``src`` to ``location`` (see the module docstring).

    Args:
        src: a local dataset directory (it must verify).
        location: a Hub dataset repo, a local hub directory or an fsspec URL.
        tag: mark the published version.
        private: create a Hub repo as private.
        message: the commit message.
        license: the card's Hub license id (default: the one in ``src``'s card, else apache-2.0).

    Returns:
        What was uploaded.

    Raises:
        DatasetMismatchError: the destination holds another dataset, or shards this one lacks.
        ChecksumMismatchError: a shard exists there with other bytes.
        AlreadyExistsError: ``tag`` marks another version (checked before any commit).
        ConfigError: ``src`` does not verify, is a partial download, or is the destination itself;
            or ``tag`` is not a valid ref name.
        CommitConflict: other writers kept moving the Hub repo through every attempt.

    Example:
        >>> publish_to(Path("data/reacher"), parse_location("/shared/hub/reacher"), tag="v1")  # doctest: +SKIP
    """
    if tag is not None:
        check_ref_name(tag, "tag", local=isinstance(location, LocalDir))
        if isinstance(location, HubRepo) and location.repo_type == "dataset":
            tag = dataset_tag(tag)  # v1.0 -> data-v1.0, which LeRobot does not read as its codebase version
    if license is not None:
        license = check_license(license)  # a bad id is refused before anything is read or written
    local = Manifest.read(src)
    if local.subset is not None:
        raise ConfigError(f"{src} is a partial download (it holds a selection of the shards of "
                          f"{local.subset.get('source', 'another dataset')}); download the whole dataset to publish it")
    problems = verify_dataset(src)
    if problems:
        raise ConfigError(f"{src} does not verify ({problems[0]}); fix it before publishing")
    if isinstance(location, LocalDir) and location.path.resolve() == src.resolve():
        raise ConfigError("publish destination is the dataset directory itself; choose another")
    store = open_store(location)
    with store.writer():
        attempt = 1
        while True:
            try:
                return _publish_once(src, local, location, store, tag, private, message, license)
            except CommitConflict:
                if attempt >= COMMIT_ATTEMPTS:
                    raise
                attempt += 1  # another writer committed first: read the destination again and re-plan


def _publish_once(src: Path, local: Manifest, location: Location, store: Store, tag: str | None, private: bool,
                  message: str | None, license: str | None = None) -> PublishResult:
    """One plan and commit against the destination as it is now (the caller holds its writer)."""
    head = store.resolve(None)
    remote = read_manifest(store, head)
    new_paths = plan_upload(local, remote, store.describe())
    manifest_text = dumps_json(local.to_json_obj())
    where = {"repo_id": location.repo_id} if isinstance(location, HubRepo) else {"directory": str(location)}
    card_text = render_dataset_card(src, local, get_spec(local.generator.env).card_template, license=license,
                                    **where)
    unchanged = (remote is not None and not new_paths
                 and store.read_bytes(MANIFEST_NAME, head) == manifest_text.encode("utf-8")
                 and store.read_bytes(CARD_NAME, head) == card_text.encode("utf-8"))
    create_tag = _check_tag(store, tag, head, committing=not unchanged) if tag else False
    if unchanged:
        revision = head
    else:
        files = {p: resolve_inside(src, p) for p in new_paths}
        summary = message or (f"wmhub publish: {len(new_paths)} new shard(s), "
                              f"{local.num_episodes} episodes")
        revision = store.commit(files, {CARD_NAME: card_text, MANIFEST_NAME: manifest_text}, summary, private,
                                parent=head)
    if create_tag:
        store.create_tag(tag, revision)
    sizes = {s.path: s.num_bytes for s in local.shards}
    return PublishResult(destination=store.describe(), revision=revision, uploaded=new_paths,
                         skipped=len(local.shards) - len(new_paths),
                         bytes_uploaded=sum(sizes[p] for p in new_paths),
                         bytes_metadata=0 if unchanged else len(manifest_text.encode()) + len(card_text.encode()),
                         tag=tag, noop=unchanged)

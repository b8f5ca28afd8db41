"""Where a dataset or checkpoint lives: one parser for every location a verb is given.

* a local directory (``data/reacher``, ``/shared/hub/reacher`` or ``file:///...``): a dataset
  directory, or a *local hub* (the same layout as a Hub repo, with tags in ``.wmhub-tags/``)
  -> :class:`LocalDir`;
* ``hf://datasets/<org>/<name>[@<revision>]`` — a dataset repo on the Hub (HfFileSystem
  convention) and ``hf://<org>/<name>[@<revision>]`` — a model repo -> :class:`HubRepo`;
* any other URL with a protocol (``s3://bucket/prefix``, ``gs://...``, ``memory://...``) -> a
  prefix on an fsspec filesystem, :class:`FsspecURL` (the backend package must be installed).

A bare ``<org>/<name>`` that is not an existing local path is refused with the ``hf://`` spelling
to use, unless the caller accepts bare repo ids (``load_model``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wmhub.errors import ConfigError, NotFoundError, UnsupportedLocationError
from wmhub.storage.files import TAGS_DIR

__all__ = ["FsspecURL", "HubRepo", "LocalDir", "Location", "RepoType", "check_ref_name", "parse_location",
           "protocol_of"]

RepoType = Literal["dataset", "model"]
_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOCAL_PROTOCOLS = ("file", "local")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_LOCAL_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_REF_CHARS = 200
_LOCAL_NAMES = ("latest", "main")


def check_ref_name(name: str, what: str = "revision", *, local: bool = False) -> str:
    """Check a tag, branch or revision name as git checks a ref name; return it unchanged.

    Refused: an empty name, ``..``, ``@{``, a lone ``@``, control characters, spaces and any of
    ``~ ^ : ? * [ \\``, a leading ``-``, an empty path component (leading, trailing or double
    ``/``), a component starting with ``.`` or ending with ``.lock``, a trailing ``.``, more than
    200 characters. A local hub keeps each tag as one folder, so there (``local=True``) a name is
    one component of letters, digits, ``.``, ``_`` and ``-`` starting with a letter or digit.

    Args:
        name: the name given.
        what: what it names, for the message (``"tag"``, ``"revision"``).
        local: the name is a local hub's tag (stricter, see above).

    Returns:
        ``name``.

    Raises:
        ConfigError: the name is not a valid ref name (one line naming the rule broken).

    Example:
        >>> check_ref_name("v1.0", "tag", local=True)
        'v1.0'
    """
    problem = None
    parts = name.split("/")
    if not name:
        problem = "is empty"
    elif len(name) > _MAX_REF_CHARS:
        problem = f"is longer than {_MAX_REF_CHARS} characters"
    elif _REF_FORBIDDEN.search(name):
        problem = "contains a space, a control character or one of ~ ^ : ? * [ \\"
    elif ".." in name or "@{" in name or name == "@":
        problem = "contains '..' or '@{' (or is '@')"
    elif name.startswith("-"):
        problem = "starts with '-'"
    elif any(not part for part in parts):
        problem = "has an empty component (a leading, trailing or double '/')"
    elif any(part.startswith(".") or part.endswith(".lock") for part in parts) or name.endswith("."):
        problem = "has a component starting with '.' or ending with '.lock', or ends with '.'"
    elif local and name not in _LOCAL_NAMES and not _LOCAL_TAG_RE.fullmatch(name):
        problem = "is not one name of letters, digits, '.', '_' and '-' (a local hub keeps no '/' in tags)"
    if problem:
        raise ConfigError(f"{what} {name!r} {problem}; choose a name like v1.0")
    return name


@dataclass(frozen=True)
class LocalDir:
    """A local directory: a dataset directory, or a local hub when it holds tags.

    Attributes:
        path: the directory (it may not exist yet, e.g. a publish destination).
        revision: a tag of a local hub (None: the latest version).
    """

    path: Path
    revision: str | None = None

    @property
    def is_hub(self) -> bool:
        """True when the directory keeps tagged versions (``.wmhub-tags/``), as a published local hub does."""
        return (self.path / TAGS_DIR).is_dir()

    def __str__(self) -> str:
        return str(self.path) + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class HubRepo:
    """A repository on the Hub (or a Hub-compatible server at ``HF_ENDPOINT``).

    Attributes:
        repo_type: ``"dataset"`` or ``"model"``.
        repo_id: ``<org>/<name>``.
        revision: branch, tag or commit (None: the default branch).
    """

    repo_type: str
    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        prefix = "hf://datasets/" if self.repo_type == "dataset" else "hf://"
        return prefix + self.repo_id + (f"@{self.revision}" if self.revision else "")


@dataclass(frozen=True)
class FsspecURL:
    """A directory on an fsspec filesystem (``s3://bucket/prefix``).

    Attributes:
        url: the URL, without a trailing slash.
        protocol: its protocol (``"s3"``).
    """

    url: str
    protocol: str

    def __str__(self) -> str:
        return self.url


Location = LocalDir | HubRepo | FsspecURL


def protocol_of(text: str) -> str | None:
    """The URL protocol of ``text`` (``"s3"``), or None for a plain local path.

    Args:
        text: a path or URL.

    Returns:
        The lower-cased protocol, or None.

    Example:
        >>> protocol_of("s3://bucket/x"), protocol_of("data/x")
        ('s3', None)
    """
    if "://" not in text:
        return None
    return text.split("://", 1)[0].lower()


def _hint(text: str, repo_type: str | None) -> str:
    return f"hf://{text}" if repo_type == "model" else f"hf://datasets/{text}"


def parse_location(text: str, revision: str | None = None, *, repo_type: RepoType | None = None,
                   source: bool = False, bare_repo_ids: bool = False) -> Location:
    """Parse a source or destination given to a verb (see the module docstring).

    Args:
        text: what the user wrote.
        revision: a revision given separately (``--revision``); it must agree with an ``@rev`` in ``text``.
        repo_type: the kind of Hub repo the verb works with (``"dataset"`` or ``"model"``); an
            ``hf://`` location of the other kind is refused. None accepts both.
        source: the location is read from: a bare ``<org>/<name>`` that is not an existing local
            path is then refused with the ``hf://`` spelling to use. False for destinations, which
            may not exist yet.
        bare_repo_ids: read a bare ``<org>/<name>`` that is not an existing local path as a Hub repo
            of ``repo_type`` (``load_model("org/name")``).

    Returns:
        A :class:`LocalDir`, :class:`HubRepo` or :class:`FsspecURL`.

    Raises:
        UnsupportedLocationError: a malformed ``hf://`` id, a repo of the wrong kind, or a revision
            on an fsspec URL.
        NotFoundError: with ``source``, a bare ``<org>/<name>`` that is not a local path (the
            message names the ``hf://`` location meant).
        ConfigError: two different revisions.

    Example:
        >>> parse_location("hf://datasets/my-lab/reacher@v1.0")
        HubRepo(repo_type='dataset', repo_id='my-lab/reacher', revision='v1.0')
        >>> parse_location("memory://bucket/reacher")
        FsspecURL(url='memory://bucket/reacher', protocol='memory')
    """
    text = str(text)
    protocol = protocol_of(text)
    if protocol == "hf":
        location = _parse_hf(text, revision)
        if repo_type is not None and location.repo_type != repo_type:
            if repo_type == "dataset":
                raise UnsupportedLocationError(
                    f"{text} is a model repo; a dataset goes into a dataset repo: "
                    f"hf://datasets/{location.repo_id}")
            raise UnsupportedLocationError(f"{text} is a dataset repo; checkpoints live in model repos: "
                                           f"hf://{location.repo_id}")
        return location
    if protocol is not None and protocol not in _LOCAL_PROTOCOLS:
        if revision:
            raise UnsupportedLocationError(f"{text}: an fsspec URL has no revisions (drop --revision/@{revision})")
        return FsspecURL(text.rstrip("/"), protocol)
    path = Path(text.split("://", 1)[1]) if protocol in _LOCAL_PROTOCOLS else Path(text)
    if revision is not None:
        check_ref_name(revision, local=True)
    if protocol is None and not path.exists() and _REPO_RE.match(text.strip("/")):
        if bare_repo_ids:
            return HubRepo(repo_type or "model", text.strip("/"), revision)
        if source:
            raise NotFoundError(f"{text}: no such local directory; did you mean {_hint(text.strip('/'), repo_type)}?")
    return LocalDir(path, revision)


def _parse_hf(text: str, revision: str | None) -> HubRepo:
    rest = text[len("hf://"):]
    kind = "model"
    if rest.startswith("datasets/"):
        kind, rest = "dataset", rest.removeprefix("datasets/")
    elif rest.startswith(("spaces/", "models/")):
        raise UnsupportedLocationError(
            f"{text}: use hf://datasets/<org>/<name> for datasets or hf://<org>/<name> for models")
    repo_id, _, at_revision = rest.partition("@")
    repo_id = repo_id.strip("/")
    if not _REPO_RE.match(repo_id):
        raise UnsupportedLocationError(f"{text}: expected a namespaced repo id <org>/<name> (letters, digits, . _ -)")
    if at_revision and revision and at_revision != revision:
        raise ConfigError(f"{text}: revision given twice ({at_revision!r} and --revision {revision!r})")
    if "@" in rest and not at_revision:
        raise ConfigError(f"{text}: empty revision after '@'; drop the '@' or name a revision")
    for name in (at_revision, revision):
        if name:
            check_ref_name(name)
    return HubRepo(kind, repo_id, at_revision or revision)

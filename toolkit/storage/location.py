"""Where a dataset or checkpoint lives: a Hub repository or a plain directory.

* ``hf://datasets/<org>/<name>[@<revision>]`` — a dataset repo (HfFileSystem convention);
* ``hf://<org>/<name>[@<revision>]`` — a model repo;
* anything else — a local directory with the same layout as the repo (the "local hub").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wmhub.errors import WmhubError

_REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class HubRepo:
    """A repository on the Hub (or a Hub-compatible server at ``HF_ENDPOINT``)."""

    repo_type: str  # "dataset" or "model"
    repo_id: str    # "<org>/<name>"
    revision: str | None = None

    def __str__(self) -> str:
        prefix = "hf://datasets/" if self.repo_type == "dataset" else "hf://"
        return prefix + self.repo_id + (f"@{self.revision}" if self.revision else "")


Location = HubRepo | Path


def parse_location(text: str, revision: str | None = None) -> Location:
    """Parse a destination or source (see module docstring)."""
    if not text.startswith("hf://"):
        return Path(text)
    rest = text.removeprefix("hf://")
    repo_type = "model"
    if rest.startswith("datasets/"):
        repo_type, rest = "dataset", rest.removeprefix("datasets/")
    elif rest.startswith(("spaces/", "models/")):
        raise WmhubError(f"{text}: use hf://datasets/<org>/<name> for datasets or hf://<org>/<name> for models")
    repo_id, _, at_revision = rest.partition("@")
    repo_id = repo_id.strip("/")
    if not _REPO_RE.match(repo_id):
        raise WmhubError(f"{text}: expected a namespaced repo id <org>/<name> (letters, digits, . _ -)")
    if at_revision and revision and at_revision != revision:
        raise WmhubError(f"{text}: revision given twice ({at_revision!r} and --revision {revision!r})")
    return HubRepo(repo_type, repo_id, at_revision or revision)

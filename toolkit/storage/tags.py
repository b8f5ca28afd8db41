"""The names of dataset versions on the Hub: ``data-vX.Y``, which LeRobot cannot mistake for its own.

LeRobot reads every tag and branch of a Hub dataset repo that parses as a PEP 440 version as the
repo's LeRobot *codebase* version (``v3.0``): a wmhub dataset tagged ``v1.0`` made
``LeRobotDataset`` raise ``BackwardCompatibilityError``. So on Hub dataset repos wmhub stores the
version a user names ``v1.0`` as the tag ``data-v1.0`` (a name that is no PEP 440 version);
``publish --tag v1.0`` creates ``data-v1.0``, and ``@v1.0`` / ``--revision v1.0`` read
``data-v1.0``, falling back to a plain ``v1.0`` tag, which repos published before this scheme
carry. Names that are no version (``release-2024``, ``data-v1.0`` itself) are used as given.
Local hubs and model repos keep the name as given (LeRobot reads neither). An exported
LeRobotDataset (``wmhub export --format lerobot``) is tagged with LeRobot's ``v3.0``, as
LeRobot expects.
"""

from __future__ import annotations

DATASET_TAG_PREFIX = "data-"


def is_version_name(name: str) -> bool:
    """Whether ``name`` parses as a PEP 440 version, as LeRobot parses refs (``v1.0``, ``1``, ``v2.1.post1``).

    Args:
        name: a tag or branch name.

    Returns:
        True for a version.

    Example:
        >>> is_version_name("v1.0"), is_version_name("data-v1.0"), is_version_name("main")
        (True, False, False)
    """
    from packaging.version import InvalidVersion, Version

    try:
        Version(name)
    except InvalidVersion:
        return False
    return True


def dataset_tag(name: str) -> str:
    """The Hub tag of the dataset version a user calls ``name``: ``data-<name>`` for a version name.

    Args:
        name: what the user passed to ``--tag`` (``v1.0``).

    Returns:
        The tag to create (``data-v1.0``); other names unchanged.

    Example:
        >>> dataset_tag("v1.0"), dataset_tag("data-v1.0"), dataset_tag("release-2024")
        ('data-v1.0', 'data-v1.0', 'release-2024')
    """
    return DATASET_TAG_PREFIX + name if is_version_name(name) else name


def dataset_revision_candidates(revision: str) -> list[str]:
    """The refs a Hub dataset revision ``revision`` is looked up as, in order.

    Args:
        revision: a branch, tag or commit as the user wrote it.

    Returns:
        ``["data-v1.0", "v1.0"]`` for a version name (the new scheme, then the old plain tag);
        ``[revision]`` otherwise.

    Example:
        >>> dataset_revision_candidates("v1.0")
        ['data-v1.0', 'v1.0']
    """
    tag = dataset_tag(revision)
    return [tag, revision] if tag != revision else [revision]

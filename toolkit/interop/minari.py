"""``wmhub export --format minari``: a Minari dataset, written through the ``minari`` library.

Minari keeps N+1 observations per episode of N actions, exactly wmhub's T+1 ``steps`` rows, so
every stored observation is exported and nothing is derived. OUT is a Minari datasets root: the
dataset lands in ``OUT/<namespace>/<name>-v<N>/`` (Minari's own layout), and
``MINARI_DATASETS_PATH=OUT`` makes ``minari.load_dataset(id)`` find it. The storage is Minari's
default, HDF5 (``pip install 'wmhub[minari]'`` brings h5py).

* observations: a ``Dict`` space with one ``Box`` per observation feature of the environment
  (reacher: ``position``, ``to_target``, ``velocity``; Spot: ``state``, ``privileged_state``),
  one ``embedding.<name>`` per embedding config, and ``frames`` (``uint8 [S, S, 3]``, stored
  without JPEG loss) when a frames config is exported;
* actions: ``Box(-1, 1, (A,), float32)``; rewards as stored;
* ``terminations``: Spot's falls; ``truncations``: every other episode's time limit;
* episode metadata: the episode's row of the ``episodes`` table (``seed``, ``return``,
  ``success`` or ``fell``, ...), also Minari's own ``seed`` field;
* dataset metadata: the wmhub generator (env, command, config) and the Gymnasium environment
  spec with the generator's ``make`` arguments, so that ``dataset.recover_environment()`` gives
  the environment that generated the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from wmhub.data.layout import EMBEDDINGS_PREFIX
from wmhub.errors import ConfigError, MissingDependencyError
from wmhub.interop.source import ExportEpisode, ExportSource, staged_output
from wmhub.interop.types import ExportResult
from wmhub.progress import Progress

MINARI_FORMAT = "minari"
#: Minari's default storage. Its arrow storage re-measures the whole dataset directory after every
#: episode (quadratic: hours for 5000 episodes); the HDF5 storage measures once per write.
DATA_FORMAT = "hdf5"
FRAMES_KEY = "frames"
EMBEDDING_KEY = "embedding.{name}"


def _require_minari():
    try:
        import minari  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("exporting to Minari needs the minari package: "
                                     "pip install 'wmhub[minari]'") from exc
    try:
        import h5py  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError("exporting to Minari needs h5py (its HDF5 storage): "
                                     "pip install 'wmhub[minari]'") from exc


def check_dataset_id(dataset_id: str) -> tuple[str | None, str, int]:
    """Parse a Minari dataset id, ``(namespace/)name-v<N>``.

    Args:
        dataset_id: e.g. ``wmhub/reacher-1m-v0``.

    Returns:
        (namespace or None, name, version).

    Raises:
        ConfigError: the id is not a valid Minari id (the message shows one that is).

    Example:
        >>> check_dataset_id("wmhub/reacher-1m-v0")
        ('wmhub', 'reacher-1m', 0)
    """
    _require_minari()
    from minari.dataset.minari_dataset import parse_dataset_id
    from minari.namespace import validate_namespace

    try:
        namespace, name, version = parse_dataset_id(dataset_id)
        if namespace is not None:
            validate_namespace(namespace)
    except (ValueError, TypeError) as exc:  # minari raises TypeError for an id without -v<N>
        raise ConfigError(f"{dataset_id!r} is not a Minari dataset id: use (namespace/)name-v<N>, "
                          "e.g. --dataset-id wmhub/reacher-1m-v0") from exc
    return namespace, name, version


def default_dataset_id(source: ExportSource) -> str:
    """``wmhub/<dataset directory name>-v0`` (the directory's name made id-safe)."""
    name = "".join(c if c.isalnum() or c in "_-" else "-" for c in source.root.resolve().name).strip("-_")
    return f"wmhub/{name or source.env}-v0"


def _spaces(source: ExportSource):
    from gymnasium import spaces

    obs: dict[str, Any] = {n: spaces.Box(-np.inf, np.inf, (source.observation_shape(n),), np.float32)
                           for n in source.layout.names}
    for config in source.embedding_configs:
        name = config.removeprefix(EMBEDDINGS_PREFIX)
        obs[EMBEDDING_KEY.format(name=name)] = spaces.Box(-np.inf, np.inf, (source.embedding_dim(config),),
                                                          np.float32)
    size = source.frame_size()
    if size is not None:
        obs[FRAMES_KEY] = spaces.Box(0, 255, (size, size, 3), np.uint8)
    return spaces.Dict(obs), spaces.Box(-1.0, 1.0, (source.action_dim,), np.float32)


def _env_spec(source: ExportSource):
    """The Gymnasium spec of the environment that generated ``source`` (its id with the generator's
    ``make`` arguments, so that ``recover_environment`` steps as the generator did), or None."""
    import dataclasses
    import importlib

    import gymnasium

    from wmhub.envs.gym_ids import REGISTERING_MODULE, gymnasium_info

    generator = source.manifest.generator
    info = generator.gymnasium or gymnasium_info(generator.env, generator.config)
    if info is None:
        return None
    importlib.import_module(REGISTERING_MODULE)
    if info.id not in gymnasium.registry:  # a manifest written by a newer wmhub
        return None
    spec = gymnasium.spec(info.id)
    kwargs = dict(info.kwargs)
    steps = kwargs.pop("max_episode_steps", spec.max_episode_steps)
    return dataclasses.replace(spec, max_episode_steps=steps, kwargs={**spec.kwargs, **kwargs})


def _buffer(episode: ExportEpisode):
    from minari.data_collector import EpisodeBuffer

    obs = {n: v.astype(np.float32) for n, v in episode.observations.items()}
    obs.update({EMBEDDING_KEY.format(name=n): v for n, v in episode.embeddings.items()})
    if episode.frames is not None:
        obs[FRAMES_KEY] = episode.frames
    steps = episode.num_steps
    terminations = np.zeros(steps, dtype=bool)
    truncations = np.zeros(steps, dtype=bool)
    if steps:
        (terminations if episode.terminated else truncations)[-1] = True
    seed = episode.metadata.get("seed")
    return EpisodeBuffer(id=episode.index, seed=int(seed) if seed is not None else None, observations=obs,
                         actions=episode.actions, rewards=list(episode.rewards.astype(np.float64)),
                         terminations=list(terminations), truncations=list(truncations))


def export_minari(src: str | Path, out: str | Path, dataset_id: str | None = None,
                  embeddings: list[str] | None = None, frames: str | None = None,
                  show_progress: bool = True) -> ExportResult:
    """Write dataset ``src`` as the Minari dataset ``dataset_id`` under the Minari datasets root ``out``.

    Args:
        src: a local wmhub dataset directory.
        out: a new (or empty) directory; it becomes a Minari datasets root.
        dataset_id: ``(namespace/)name-v<N>``; default ``wmhub/<src name>-v0``.
        embeddings: embedding configs to add as observation keys (default: all).
        frames: a ``frames-S`` config to add as the ``frames`` observation (default: none).
        show_progress: show a progress bar.

    Returns:
        The :class:`ExportResult` (``path`` is the dataset's own directory).

    Raises:
        ConfigError: an invalid dataset id.
        AlreadyExistsError: ``out`` is not empty.
        MissingDependencyError: minari is not installed.

    Example:
        >>> export_minari("data/reacher-100k", "minari-root", "wmhub/reacher-100k-v0")  # doctest: +SKIP
        >>> # MINARI_DATASETS_PATH=minari-root python -c "import minari; minari.load_dataset('wmhub/reacher-100k-v0')"
    """
    source = ExportSource(src, embeddings=embeddings, frames=frames)
    dataset_id = dataset_id or default_dataset_id(source)
    namespace, _, _ = check_dataset_id(dataset_id)
    import minari
    from minari.dataset.minari_storage import MinariStorage

    observation_space, action_space = _spaces(source)
    spec = _env_spec(source)
    generator = source.manifest.generator
    bar = Progress(source.num_episodes, "ep", "transitions", f"export minari {dataset_id}", enabled=show_progress)
    out = Path(out)
    try:
        with staged_output(out) as tmp:
            if namespace is not None:
                for depth in range(1, len(namespace.split("/")) + 1):
                    folder = tmp.joinpath(*namespace.split("/")[:depth])
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / "namespace_metadata.json").write_text(json.dumps(
                        {"description": "Datasets exported from wmhub"} if depth == 1 else {}))
            # absolute: Minari's get_size joins the paths its glob returns onto a relative data path twice
            data_path = tmp.absolute().joinpath(*dataset_id.split("/")) / "data"
            data_path.mkdir(parents=True)
            storage = MinariStorage.new(data_path, observation_space=observation_space, action_space=action_space,
                                        env_spec=spec, data_format=DATA_FORMAT, jpeg_encoding=False)
            storage.update_metadata({
                "dataset_id": dataset_id,
                "minari_version": minari.__version__,
                "algorithm_name": f"wmhub generate {generator.env}",
                "description": (f"{source.env} rollouts exported from a wmhub dataset: {source.num_episodes} "
                                f"episodes, {source.num_transitions} transitions. Regenerate with: "
                                f"{generator.command}"),
                "wmhub_generator": json.dumps(generator.model_dump(mode="json"), sort_keys=True),
                "wmhub_episode_metadata": sorted(n for n in source.episode_features if n != "episode_index"),
            })

            def buffers() -> Iterator[Any]:
                for shard in source.iter_shards():
                    for episode in shard:
                        yield _buffer(episode)
                    storage.update_episode_metadata(
                        [{k: v for k, v in e.metadata.items()} for e in shard], [e.index for e in shard])
                    bar.update(len(shard), sum(e.num_steps for e in shard))

            storage.update_episodes(buffers())
    finally:
        bar.close()
    path = out.joinpath(*dataset_id.split("/"))
    return ExportResult(format=MINARI_FORMAT, path=str(path), episodes=source.num_episodes,
                        rows=source.num_transitions, name=dataset_id)

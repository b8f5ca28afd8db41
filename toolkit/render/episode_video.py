"""``wmhub view``: videos of dataset episodes, rendered from the stored physics state or stored frames.

Each frame is the scene of row t (re-rendered from ``qpos``/``qvel`` [/``target_pos``] by
:class:`~wmhub.render.scene.SceneRenderer`, or the stored ``frames-S`` frame with
``from_frames=True``) over the panel of :mod:`wmhub.render.overlay` (step, reward, action bars; Spot:
command and measured base velocity). Rendering from the state and showing the stored frames give the
same video, pixel for pixel, when the frames were rendered at the same size by the same MuJoCo
renderer and GL backend (the scene is identical and the panel depends on the rows only).

Several episodes give one file each (episodes differ in length, so tiling would pad or cut them):
``--out clip.mp4`` with episodes 3 and 7 writes ``clip-episode-3.mp4`` and ``clip-episode-7.mp4``;
one episode is written to ``--out`` itself. The default name is ``<dataset>-episode-<N>.mp4``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wmhub.errors import ConfigError
from wmhub.progress import Progress
from wmhub.render.episode_rows import SPOT_COLUMNS, Episode, read_episodes, select_episodes
from wmhub.render.overlay import PANEL_COLORS, OverlayPanel, StepInfo
from wmhub.render.scene import RENDERABLE_ENVS, SceneRenderer
from wmhub.render.video_io import VideoWriter, video_format

DEFAULT_SIZE = 256
CONTROL_FPS = 50.0  # reacher and Spot both act every 0.02 s: 50 fps is real time


@dataclass(frozen=True)
class EpisodeVideo:
    """One video written by :func:`view`.

    Attributes:
        episode: the episode index.
        path: the file.
        frames: frames written (T+1: one per row).
        width: frame width in pixels.
        height: frame height in pixels (scene and panel).

    Example:
        >>> view("data/reacher-100k", [3], out="ep3.mp4").videos[0].frames  # doctest: +SKIP
        201
    """

    episode: int
    path: Path
    frames: int
    width: int
    height: int


@dataclass(frozen=True)
class ViewResult:
    """What :func:`view` did.

    Attributes:
        source: the dataset, as given.
        env: its environment.
        size: the scene's size in pixels (before enlarging small scenes for display).
        fps: frames per second of the videos.
        from_frames: the scenes are the stored frames, not re-rendered.
        videos: one entry per episode, in the order asked.
        seconds: wall time of reading, rendering and writing.
        notes: what the pictures leave out (e.g. a visual mesh missing from a Menagerie copy).

    Example:
        >>> result = view("data/spot-1h", [0, 5], out="spot.gif")  # doctest: +SKIP
        >>> [(v.episode, v.path.name, v.frames) for v in result.videos]  # doctest: +SKIP
        [(0, 'spot-episode-0.gif', 1001), (5, 'spot-episode-5.gif', 1001)]
    """

    source: str
    env: str
    size: int
    fps: float
    from_frames: bool
    videos: list[EpisodeVideo]
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        """The files written, in episode order."""
        return [video.path for video in self.videos]


def base_velocity(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
    """Spot's measured base velocity ``[N, 3]``: v_x, v_y in the body frame (m/s) and the yaw rate (rad/s).

    The free joint's ``qvel[:3]`` is the base's linear velocity in the world frame, rotated here into
    the body frame by the base quaternion ``qpos[3:7]`` (w, x, y, z); ``qvel[5]`` is the angular
    velocity about the body's z axis. These are what the velocimeter and gyro at the imu site read
    in the state shown (the site sits at the base's origin), the quantities the reward tracks against
    the command. (The sensor values stored in ``privileged_state`` differ slightly: MuJoCo computes
    sensors before the last 4 ms physics step of a control step.)

    Args:
        qpos: ``[N, 19]``.
        qvel: ``[N, 18]``.

    Returns:
        ``[N, 3]`` float64.

    Example:
        >>> qpos = np.zeros((1, 19)); qpos[0, 3] = 1.0
        >>> qvel = np.zeros((1, 18)); qvel[0, [0, 5]] = [0.5, 0.2]
        >>> base_velocity(qpos, qvel).round(3).tolist()
        [[0.5, 0.0, 0.2]]
    """
    w, x, y, z = (qpos[:, 3 + k] for k in range(4))
    # rows of R^T (body axes in world coordinates) from the unit quaternion
    x_axis = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)], axis=1)
    y_axis = np.stack([2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], axis=1)
    linear = qvel[:, :3]
    return np.stack([np.sum(x_axis * linear, axis=1), np.sum(y_axis * linear, axis=1), qvel[:, 5]], axis=1)


def step_infos(episode: Episode, env: str) -> list[StepInfo]:
    """The panel values of every row of an episode.

    Args:
        episode: its rows (``action``, ``reward``; Spot: ``command``, ``qpos``, ``qvel``).
        env: the environment.

    Returns:
        One :class:`~wmhub.render.overlay.StepInfo` per row.
    """
    columns = episode.columns
    steps = episode.steps
    reward = np.asarray(columns["reward"], np.float64)
    returns = np.cumsum(np.nan_to_num(reward))
    velocity = base_velocity(columns["qpos"], columns["qvel"]) if env == "spot" else None
    infos = []
    for t in range(steps + 1):
        last = t == steps
        infos.append(StepInfo(
            episode=episode.index, step=t, steps=steps,
            reward=None if last or np.isnan(reward[t]) else float(reward[t]),
            episode_return=float(returns[t]),
            action=None if last else columns["action"][t],
            command=columns["command"][t] if env == "spot" else None,
            velocity=velocity[t] if velocity is not None else None))
    return infos


def episode_frames(episode: Episode, env: str, panel: OverlayPanel,
                   renderer: SceneRenderer | None) -> Iterator[np.ndarray]:
    """The video frames of one episode: each row's scene over its panel.

    Args:
        episode: the rows (read with its stored frames when ``renderer`` is None).
        env: the environment.
        panel: the overlay of this layout.
        renderer: renders the scenes from the physics state; None shows the episode's stored frames.

    Yields:
        ``uint8 [H, W, 3]`` frames, one per row.

    Example:
        >>> renderer = SceneRenderer("reacher", 64)  # doctest: +SKIP
        >>> frames = list(episode_frames(episode, "reacher", OverlayPanel(64, 2), renderer))  # doctest: +SKIP
    """
    columns = episode.columns
    stored = episode.stored_frames() if renderer is None else None
    for t, info in enumerate(step_infos(episode, env)):
        if stored is not None:
            scene = stored[t]
        else:
            scene = renderer.render({name: columns[name][t] for name in renderer.state_columns})
        yield panel.compose(scene, info)


def _dataset_stem(source: str) -> str:
    """A file-name stem for a dataset source: its last path segment, without ``@revision``."""
    text = re.sub(r"@[^/]*$", "", str(source).rstrip("/"))
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.rsplit("/", 1)[-1]).strip("-.")
    return name or "dataset"


def output_paths(source: str, episodes: list[int], out: str | Path | None) -> list[Path]:
    """Where each episode's video goes (see the module docstring).

    Args:
        source: the dataset source (names the default file).
        episodes: the episode indices.
        out: ``FILE.mp4`` / ``FILE.gif``, or None for ``<dataset>-episode-<N>.mp4`` here.

    Returns:
        One path per episode.

    Raises:
        ConfigError: an output that is neither ``.mp4`` nor ``.gif``.

    Example:
        >>> [p.name for p in output_paths("data/reacher-1m", [3, 7], "clip.gif")]
        ['clip-episode-3.gif', 'clip-episode-7.gif']
    """
    if out is None:
        return [Path(f"{_dataset_stem(source)}-episode-{e}.mp4") for e in episodes]
    out = Path(out)
    video_format(out)
    if len(episodes) == 1:
        return [out]
    return [out.with_name(f"{out.stem}-episode-{e}{out.suffix}") for e in episodes]


def view(source: str | Path, episodes: Iterable[int], *, out: str | Path | None = None, size: int | None = None,
         fps: float = CONTROL_FPS, from_frames: bool = False, revision: str | None = None,
         show_progress: bool = True, storage_options: dict[str, Any] | None = None) -> ViewResult:
    """Write a video of each episode: the scene, with step, reward and action (Spot: command, velocity) under it.

    Only the shards holding the episodes are downloaded (remote sources; cached). See the module
    docstring for file names and for when the two scene sources agree.

    Args:
        source: a dataset directory, a local hub (``DIR@tag``), ``hf://datasets/<org>/<name>[@rev]``
            or an fsspec URL.
        episodes: episode indices (repeats are dropped).
        out: ``FILE.mp4`` (H.264) or ``FILE.gif``; several episodes get ``-episode-N`` before the suffix.
            Default: ``<dataset>-episode-<N>.mp4`` in the working directory.
        size: scene height and width in pixels (default 256; with ``from_frames``: the stored size).
        fps: frames per second (default 50, real time; a GIF plays at most 50).
        from_frames: show the stored ``frames-S`` frames instead of rendering the physics state.
        revision: branch, tag or commit of a remote source (default: latest).
        show_progress: show progress bars (download, frames).
        storage_options: fsspec options for an fsspec URL.

    Returns:
        A :class:`ViewResult` (``.paths``, ``.videos``, ``.notes``).

    Raises:
        ConfigError: no or out-of-range episodes (the message gives the range held), a bad ``out``,
            ``size`` or ``fps``, an environment that cannot be rendered, or ``from_frames`` without
            stored frames of that size.
        NotFoundError: no dataset at ``source``, or (Spot) no Menagerie Spot model (``MENAGERIE_ROOT`` hint).
        MissingDependencyError: no headless OpenGL backend works (set ``MUJOCO_GL=egl`` or ``osmesa``).

    Example:
        >>> import wmhub
        >>> wmhub.view("data/reacher-100k", episodes=[3], out="episode-3.gif").paths  # doctest: +SKIP
        [PosixPath('episode-3.gif')]
    """
    start = time.perf_counter()
    wanted = list(dict.fromkeys(int(e) for e in episodes))
    if size is not None and size <= 0:
        raise ConfigError(f"--size must be positive, got {size}")
    if not fps > 0:
        raise ConfigError(f"--fps must be positive, got {fps}")
    paths = output_paths(str(source), wanted, out)
    selection = select_episodes(source, wanted, from_frames=from_frames, size=size, revision=revision,
                                show_progress=show_progress, storage_options=storage_options)
    if selection.env not in RENDERABLE_ENVS:
        raise ConfigError(f"{source} is a {selection.env!r} dataset; view renders {', '.join(RENDERABLE_ENVS)}")
    size = selection.frame_size or size or DEFAULT_SIZE
    renderer = None if from_frames else SceneRenderer(selection.env, size)
    try:
        state = () if renderer is None else renderer.state_columns
        extra = (*SPOT_COLUMNS, "qpos", "qvel") if selection.env == "spot" else ()
        loaded = list(read_episodes(selection, [*state, *extra]))
        progress = Progress(sum(e.steps + 1 for e in loaded), "frame", "frames", "view", enabled=show_progress)
        videos = []
        for episode, path in zip(loaded, paths):
            action_dim = int(np.asarray(episode.columns["action"]).shape[1])
            panel = OverlayPanel(size, action_dim, spot=selection.env == "spot")
            with VideoWriter(path, fps, palette_colors=PANEL_COLORS) as writer:
                for frame in episode_frames(episode, selection.env, panel, renderer):
                    writer.add(frame)
                    progress.update(1, 1)
            videos.append(EpisodeVideo(episode=episode.index, path=path, frames=writer.frames,
                                       width=writer.shape[1], height=writer.shape[0]))
        progress.close()
    finally:
        if renderer is not None:
            renderer.close()
    return ViewResult(source=str(source), env=selection.env, size=size, fps=float(fps), from_frames=from_frames,
                      videos=videos, seconds=time.perf_counter() - start,
                      notes=list(renderer.notes) if renderer is not None else [])

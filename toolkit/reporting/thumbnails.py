"""Episode thumbnails of a dataset report: an animated GIF strip per episode, linking to its video.

Both are re-rendered from the stored physics state, so they show exactly the recorded episode:
the videos by :func:`wmhub.render.episode_video.view` (the scene with step, reward and action
bars under it, as ``wmhub view`` writes them), the GIF strips by its scene renderer
(:class:`wmhub.render.scene.SceneRenderer`) at :data:`GIF_FRAMES` evenly spaced steps, without
the panel, which would be unreadable at thumbnail size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import WmDataset
from wmhub.data.schema import column_numpy
from wmhub.data.summary import episode_table
from wmhub.fileio import tmp_name
from wmhub.render.episode_video import view
from wmhub.render.scene import RENDERABLE_ENVS, SceneRenderer

GIF_FRAMES = 25  # frames of a GIF strip, evenly spaced over the episode
GIF_SIZE = 96  # pixels; the page shows the strips at this size
GIF_SECONDS = 4.0  # how long one loop of a strip lasts


@dataclass(frozen=True)
class EpisodeMedia:
    """The media files of one episode, relative to the report's folder.

    Attributes:
        episode: the episode index.
        gif: the animated thumbnail.
        video: the video of every step.
        steps: the episode's actions.
        episode_return: its return.
    """

    episode: int
    gif: str
    video: str
    steps: int
    episode_return: float


def can_render(env: str) -> bool:
    """Whether episodes of ``env`` can be rendered into thumbnails and videos."""
    return env in RENDERABLE_ENVS


def pick_episodes(available: Sequence[int], count: int) -> list[int]:
    """``count`` of the ``available`` episode indices, spread evenly (the first and the last included).

    Example:
        >>> pick_episodes(range(60), 3)
        [0, 30, 59]
    """
    available = list(available)
    if count <= 0 or not available:
        return []
    if count >= len(available):
        return available
    return [available[i] for i in sorted({int(round(v)) for v in np.linspace(0, len(available) - 1, count)})]


def strip_frames(dataset: WmDataset, episodes: Sequence[int], renderer: SceneRenderer) -> dict[int, np.ndarray]:
    """The GIF frames of each episode: ``uint8 [GIF_FRAMES, size, size, 3]`` at evenly spaced steps.

    Args:
        dataset: the dataset.
        episodes: episode indices.
        renderer: the scene renderer of the dataset's environment.

    Returns:
        Episode index -> frames (only the shards holding the episodes are read).
    """
    infos = {f.name: f for f in dataset.features(STEPS_CONFIG)}
    columns = ["episode_index", *renderer.state_columns]
    wanted = set(episodes)
    out: dict[int, np.ndarray] = {}
    for position in dataset.shards_holding(STEPS_CONFIG, episodes):
        table = dataset.table(STEPS_CONFIG, columns, shards=[position])
        index = column_numpy(table, infos["episode_index"])
        state = {n: column_numpy(table, infos[n]) for n in renderer.state_columns}
        for episode in sorted(wanted & set(np.unique(index).tolist())):
            rows = np.flatnonzero(index == episode)
            keep = rows[np.unique(np.linspace(0, len(rows) - 1, min(GIF_FRAMES, len(rows))).round().astype(int))]
            out[episode] = np.stack([renderer.render({n: state[n][r] for n in state}) for r in keep])
    return out


def _write_gif(path: Path, frames: np.ndarray) -> None:
    from PIL import Image

    images = [Image.fromarray(f).resize((GIF_SIZE, GIF_SIZE), Image.Resampling.LANCZOS)
              .quantize(colors=32, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) for f in frames]
    tmp = tmp_name(path)
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(1000 * GIF_SECONDS / len(images))), optimize=False)
    tmp.replace(path)


def write_episode_media(dataset: WmDataset, episodes: Sequence[int], out_dir: Path, *, size: int = 128,
                        show_progress: bool = True) -> list[EpisodeMedia]:
    """Write ``thumbs/episode-N.gif`` and a video of each episode under ``videos/`` in ``out_dir``.

    Args:
        dataset: a local dataset of a renderable environment (:func:`can_render`).
        episodes: episode indices.
        out_dir: the report's folder.
        size: the scene's size in pixels in the videos.
        show_progress: progress bars on stderr.

    Returns:
        One :class:`EpisodeMedia` per episode, in order.

    Raises:
        MissingDependencyError: no headless OpenGL backend works.
        NotFoundError: Spot, without Menagerie's Spot model.
    """
    (out_dir / "thumbs").mkdir(parents=True, exist_ok=True)
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    renderer = SceneRenderer(dataset.manifest.generator.env, max(size, GIF_SIZE))
    try:
        strips = strip_frames(dataset, episodes, renderer)
    finally:
        renderer.close()
    for episode in episodes:
        _write_gif(out_dir / "thumbs" / f"episode-{episode:06d}.gif", strips[episode])
    name = out_dir / "videos" / f"{dataset.manifest.generator.env}.mp4"  # one episode: this name, else -episode-N
    videos = view(str(dataset.root), episodes, out=name, size=size, show_progress=show_progress).videos
    table = episode_table(dataset.root, dataset.manifest)
    index = table.column("episode_index").to_numpy()
    lengths, returns = table.column("length").to_numpy(), table.column("return").to_numpy()
    media = []
    for episode, video in zip(episodes, videos):
        row = int(np.flatnonzero(index == episode)[0])
        media.append(EpisodeMedia(episode=episode, gif=f"thumbs/episode-{episode:06d}.gif",
                                  video=Path(video.path).relative_to(out_dir).as_posix(), steps=int(lengths[row]),
                                  episode_return=float(returns[row])))
    return media

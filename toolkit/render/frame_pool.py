"""Render episodes in worker processes, ahead of the consumer, in order.

The encoder runs in the main process (on the accelerator when there is one)
while ``workers`` spawned processes render the next episodes, so rendering
and encoding overlap. At most ``2 × workers`` episodes are in flight, which
bounds memory (an episode of 201 frames at 256² is ~40 MB). ``workers=0``
renders in the calling process. Frames do not depend on which process
rendered them.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np

from wmhub.render.gl_backend import select_render_backend
from wmhub.workers import die_with_parent

_RENDERER = None


def _render_job(size: int, qpos: np.ndarray, qvel: np.ndarray, target: np.ndarray) -> np.ndarray:
    global _RENDERER
    if _RENDERER is None or _RENDERER.size != size:
        from wmhub.render.reacher_frames import ReacherFrameRenderer

        _RENDERER = ReacherFrameRenderer(size=size)
    return _RENDERER.render(qpos, qvel, target)


def episode_states(steps, step_features) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(qpos, qvel, target_pos) of each episode of a step-shard table, in row order.

    Args:
        steps: a reacher ``steps`` shard (episodes contiguous, step 0 first).
        step_features: its features by name.

    Yields:
        One ``(qpos, qvel, target_pos)`` tuple of ``[T+1, ...]`` arrays per episode.

    Example:
        >>> states = list(episode_states(read_parquet(path), features))  # doctest: +SKIP
    """
    from wmhub.data.schema import column_numpy

    index = column_numpy(steps, step_features["episode_index"])
    columns = [column_numpy(steps, step_features[n]) for n in ("qpos", "qvel", "target_pos")]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(index)) + 1, [len(index)]])
    for a, b in zip(bounds[:-1], bounds[1:]):
        yield tuple(c[a:b] for c in columns)


def render_episodes(states: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int,
                    workers: int = 1) -> Iterator[np.ndarray]:
    """Render each (qpos, qvel, target_pos) episode, in order, ahead of the consumer.

    Args:
        states: the episodes' physics states (:func:`episode_states`).
        size: frame height and width in pixels.
        workers: spawned render processes (0: render in this process); frames do not depend on it.

    Yields:
        ``uint8 [T+1, size, size, 3]`` frames per episode.

    Raises:
        MissingDependencyError: no headless OpenGL backend works.

    Example:
        >>> for frames in render_episodes(episode_states(steps, features), 64, workers=2):  # doctest: +SKIP
        ...     print(frames.shape)
    """
    select_render_backend()  # decide once, children inherit MUJOCO_GL
    if workers <= 0:
        from wmhub.render.reacher_frames import ReacherFrameRenderer

        renderer = ReacherFrameRenderer(size=size)
        try:
            for qpos, qvel, target in states:
                yield renderer.render(qpos, qvel, target)
        finally:
            renderer.close()
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=die_with_parent) as pool:
        pending: deque = deque()
        source = iter(states)
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < 2 * workers:
                try:
                    qpos, qvel, target = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(pool.apply_async(_render_job, (size, qpos, qvel, target)))
            if pending:
                yield pending.popleft().get()

"""Frames per second of ``wmhub view`` against a bare ``mujoco.Renderer`` loop at the same size.

    MENAGERIE_ROOT=... python benchmarks/view.py --size 256 --reacher-steps 200 --spot-steps 300 --repeats 3

For reacher and Spot, one episode is generated, then, in turns (``--repeats`` times, best kept):

* bare: ``mujoco.Renderer(model, size, size)`` on the same model, camera and render flags as ``view``,
  looping set state → ``mj_forward`` → ``update_scene`` → ``render`` over the episode's rows (renderer
  creation not timed);
* view: ``wmhub.view(dataset, [0], out=FILE.mp4, size=size)`` end to end: reading the episode,
  creating the renderer, rendering, drawing the panel, H.264 encoding and the atomic rename.

The ratio view/bare is what the pipeline around rendering costs (1.0: nothing). The load average of
the machine is printed with the figures, since a loaded machine slows both sides.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.generation import generate  # noqa: E402
from wmhub.render.episode_rows import read_episodes, select_episodes  # noqa: E402
from wmhub.render.episode_video import view  # noqa: E402
from wmhub.render.scene import SceneRenderer  # noqa: E402


def bare_fps(data: Path, env: str, size: int) -> float:
    """Frames per second of the bare render loop over episode 0 of ``data``."""
    import mujoco

    scene = SceneRenderer(env, size)  # the model, camera and flags view uses
    episode = next(read_episodes(select_episodes(data, [0]), scene.state_columns))
    renderer = mujoco.Renderer(scene.model, size, size)
    renderer.scene.flags[:] = scene.renderer.scene.flags
    sim = mujoco.MjData(scene.model)
    qpos, qvel = episode.columns["qpos"], episode.columns["qvel"]
    target = scene.model.geom("target").id if env == "reacher" else None
    start = time.perf_counter()
    for t in range(len(qpos)):
        sim.qpos[:], sim.qvel[:] = qpos[t], qvel[t]
        if target is not None:
            scene.model.geom_pos[target, :2] = episode.columns["target_pos"][t]
        mujoco.mj_forward(scene.model, sim)
        renderer.update_scene(sim, camera=scene.camera)
        renderer.render()
    seconds = time.perf_counter() - start
    renderer.close()
    scene.close()
    return len(qpos) / seconds


def view_fps(data: Path, size: int, out: Path) -> float:
    """Frames per second of ``wmhub.view`` end to end over episode 0 of ``data``."""
    result = view(data, [0], out=out, size=size, show_progress=False)
    return result.videos[0].frames / result.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reacher-steps", type=int, default=200)
    parser.add_argument("--spot-steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--envs", default="reacher,spot")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.envs.split(","):
            data = Path(tmp) / env
            steps = args.reacher_steps if env == "reacher" else args.spot_steps
            options = {"episode_length": steps, **({"policy": "trot"} if env == "spot" else {})}
            generate(env, data, 1, options=options, show_progress=False)
            bare, viewed = [], []
            for k in range(args.repeats):
                bare.append(bare_fps(data, env, args.size))
                viewed.append(view_fps(data, args.size, Path(tmp) / f"{env}-{k}.mp4"))
            rows.append((env, steps + 1, max(bare), max(viewed), bare, viewed))
    load_after = os.getloadavg()
    print(f"size {args.size} px, best of {args.repeats}, MUJOCO_GL={os.environ['MUJOCO_GL']}, "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, {os.cpu_count()} CPUs")
    print("| env | frames | bare mujoco.Renderer frames/s | wmhub view frames/s (MP4, end to end) | ratio |")
    print("|---|---|---|---|---|")
    for env, frames, bare, viewed, all_bare, all_viewed in rows:
        print(f"| {env} | {frames} | {bare:.1f} | {viewed:.1f} | {viewed / bare:.2f} |")
        runs = f"bare runs {np.round(all_bare, 1).tolist()}, view runs {np.round(all_viewed, 1).tolist()}"
        print(f"<!-- {env}: {runs} -->")


if __name__ == "__main__":
    main()

"""``wmhub view``: a video of dataset episodes, with step, reward and action drawn under each frame."""

from __future__ import annotations

import click


@click.command(name="view")
@click.argument("source")
@click.option("--episode", "-e", "episodes", multiple=True, required=True, metavar="N",
              help="Episode to show: an index, or ranges like 3,7 or 0-4. Repeatable; one video per episode.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="FILE.mp4 (H.264) or FILE.gif (for cards). Several episodes: FILE-episode-N.mp4 each. "
                   "Default: <dataset>-episode-N.mp4 here.")
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Scene size in pixels (default 256; with --from-frames: the stored size). "
                   "Scenes under 192 px are enlarged by a whole factor.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=50.0, show_default=True,
              help="Frames per second (50 is real time: both environments act every 0.02 s; GIFs play at most 50).")
@click.option("--from-frames", is_flag=True,
              help="Show the stored frames-S config instead of rendering the physics state (same picture).")
@click.option("--revision", default=None, help="Branch, tag or commit of a remote SOURCE (default: latest).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def view(source, episodes, out, size, fps, from_frames, revision, quiet):
    """Render dataset episodes to MP4 or GIF from the stored physics state.

    SOURCE is a dataset directory, a local hub (DIR@tag), hf://datasets/<org>/<name>[@rev]
    or an fsspec URL; only the shards holding the episodes are downloaded. Reacher is
    seen from its fixed top-down camera, Spot (Menagerie's model; set MENAGERIE_ROOT for an
    offline copy) from a camera that follows the body. Under each frame: episode and step,
    reward and return, the action as bars, and for Spot the joystick command (tick) against
    the measured base velocity (bar). Rendering needs a headless OpenGL backend
    (MUJOCO_GL=egl or MUJOCO_GL=osmesa).

    \b
    Example:
      wmhub view data/reacher-100k --episode 3
      wmhub view data/spot-1h -e 0 -e 5 --out spot.gif --size 192 --fps 25
      wmhub view hf://datasets/my-lab/reacher-1m@v1.0 -e 12 --out ep12.mp4
      wmhub view data/reacher-100k -e 0-2 --from-frames --out stored.mp4
    """
    from wmhub.hub.download import parse_ranges
    from wmhub.render.episode_video import view as run

    wanted: list[int] = []
    for spec in episodes:
        for start, end in parse_ranges(spec, "episode"):
            wanted.extend(range(start, end))
    result = run(source, wanted, out=out, size=size, fps=fps, from_frames=from_frames, revision=revision,
                 show_progress=not quiet)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for video in result.videos:
        click.echo(f"episode {video.episode}: {video.path} ({video.frames} frames, {video.width}x{video.height})")

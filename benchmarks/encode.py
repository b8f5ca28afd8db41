"""Benchmark: render-only, encoder forward-only and end-to-end ``wmhub encode`` rates, same run.

    python benchmarks/encode.py --episodes 4 --episode-length 50 --encoder random:64 --frame-size 64

Reports frames/s of re-rendering stored states, windows/s of the encoder
alone on pre-rendered windows at the chosen batch size, end-to-end encode
windows/s, the ratio end-to-end ÷ min(render-only × workers, forward-only)
(target ≥ 0.85), and bytes per transition of the stored embeddings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.data import open_dataset  # noqa: E402
from wmhub.encoders import parse_encoder_spec  # noqa: E402
from wmhub.encoding import encode_dataset  # noqa: E402
from wmhub.encoding.windows import window_indices  # noqa: E402
from wmhub.generation import generate  # noqa: E402
from wmhub.render.reacher_frames import ReacherFrameRenderer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--episode-length", type=int, default=50)
    parser.add_argument("--encoder", default="random:64")
    parser.add_argument("--frame-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--workers", type=int, default=1, help="render processes of the end-to-end run")
    parser.add_argument("--encoder-threads", type=int, default=None, help="torch threads of the end-to-end run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wmhub-encode-bench-"))
    try:
        out = tmp / "reacher"
        generate("reacher", out, args.episodes, options={"episode_length": args.episode_length},
                 episodes_per_shard=args.episodes, show_progress=False)
        episode_rows = next(open_dataset(out).iter_episodes())
        renderer = ReacherFrameRenderer(size=args.frame_size)
        renderer.render(episode_rows["qpos"][:1], episode_rows["qvel"][:1], episode_rows["target_pos"][:1])  # warm-up
        start = time.perf_counter()
        frames = renderer.render(episode_rows["qpos"], episode_rows["qvel"], episode_rows["target_pos"])
        render_rate = len(frames) / (time.perf_counter() - start)
        renderer.close()

        encoder = parse_encoder_spec(args.encoder, device=args.device, dtype=args.dtype, frame_size=args.frame_size)
        windows = frames[window_indices(episode_rows["step_index"], encoder.window)]
        encoder.encode_windows(windows[: args.batch_size])  # warm-up
        start = time.perf_counter()
        for a in range(0, len(windows), args.batch_size):
            encoder.encode_windows(windows[a:a + args.batch_size])
        forward_rate = len(windows) / (time.perf_counter() - start)

        rows = open_dataset(out).manifest.num_rows("steps")
        result = encode_dataset(out, args.encoder, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                                frame_size=args.frame_size, workers=args.workers,
                                encoder_threads=args.encoder_threads, show_progress=False)
        end_to_end = rows / result.seconds
        manifest = open_dataset(out).manifest
        emb_bytes = sum(s.num_bytes for s in manifest.shards_of(result.config))
        transitions = args.episodes * args.episode_length
        report = {
            "encoder": args.encoder, "frame_size": args.frame_size, "batch_size": args.batch_size,
            "device": str(encoder.device), "embedding_dim": encoder.dim,
            "render_frames_per_s": round(render_rate, 1), "forward_windows_per_s": round(forward_rate, 1),
            "end_to_end_windows_per_s": round(end_to_end, 1),
            "workers": args.workers, "encoder_threads": args.encoder_threads,
            "ratio_vs_min_limit": round(end_to_end / min(render_rate * max(args.workers, 1), forward_rate), 3),
            "embedding_bytes_per_transition": round(emb_bytes / transitions, 1),
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

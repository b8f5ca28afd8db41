"""Measure image encodings for stored frames: bytes per frame, encode and decode time per frame.

    python benchmarks/frame_encoding.py --frames 60

Frames are real reacher renders (re-rendered from a generated episode) at
64 and 256 px. Candidates: PNG (levels 1 and 6), JPEG q90, lossless WebP and
raw uint8 (.npy). The mean absolute error column shows which are lossless.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from PIL import Image  # noqa: E402

from wmhub.data import open_dataset  # noqa: E402
from wmhub.generation import generate  # noqa: E402
from wmhub.render.reacher_frames import ReacherFrameRenderer  # noqa: E402


def _pil(fmt: str, **kw):
    def encode(frame: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format=fmt, **kw)
        return buffer.getvalue()
    return encode


def _npy(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, frame)
    return buffer.getvalue()


CODECS = {
    "png (level 6)": (_pil("PNG", compress_level=6), lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))),
    "png (level 1)": (_pil("PNG", compress_level=1), lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))),
    "jpeg q90": (_pil("JPEG", quality=90), lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))),
    "webp lossless": (_pil("WEBP", lossless=True), lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"))),
    "raw npy": (_npy, lambda b: np.load(io.BytesIO(b), allow_pickle=False)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reacher"
        generate("reacher", out, 1, options={"episode_length": args.frames - 1}, show_progress=False)
        episode = next(open_dataset(out).iter_episodes())
    print("| size | encoding | bytes/frame | encode ms/frame | decode ms/frame | mean abs error |")
    print("|---|---|---|---|---|---|")
    for size in (64, 256):
        renderer = ReacherFrameRenderer(size=size)
        renderer.render(episode["qpos"][:1], episode["qvel"][:1], episode["target_pos"][:1])
        start = time.perf_counter()
        frames = renderer.render(episode["qpos"], episode["qvel"], episode["target_pos"])
        render_ms = (time.perf_counter() - start) / len(frames) * 1e3
        renderer.close()
        for name, (encode, decode) in CODECS.items():
            start = time.perf_counter()
            blobs = [encode(f) for f in frames]
            enc = (time.perf_counter() - start) / len(frames) * 1e3
            start = time.perf_counter()
            decoded = np.stack([decode(b) for b in blobs])
            dec = (time.perf_counter() - start) / len(frames) * 1e3
            err = float(np.abs(decoded.astype(int) - frames.astype(int)).mean())
            print(f"| {size} | {name} | {np.mean([len(b) for b in blobs]):,.0f} | {enc:.2f} | {dec:.3f} | {err:.3f} |")
        print(f"| {size} | (render, for scale) | | {render_ms:.2f} | | |")


if __name__ == "__main__":
    main()

"""Stored frames as WebDataset tar shards: one sample per episode, PNG frames.

Sample ``episode_00000012`` (keys have no dots, as WebDataset splits member
names at the first dot) holds ``episode_00000012.json`` (episode index,
number of frames, size) and ``episode_00000012.f0000.png`` …
``episode_00000012.fNNNN.png``, frame t being the observation of step t.

PNG was chosen by measurement (BENCHMARKS.md, ``benchmarks/frame_encoding.py``):
lossless (pixel world models and later re-encoding see exactly the rendered
frames), ~13× smaller than raw uint8 on reacher frames, and decoding costs
well under a millisecond per frame. JPEG is ~2× smaller but lossy; lossless
WebP is ~1.5× smaller but encodes 6–10× slower than PNG, slower than
rendering at 256 px.

Tar members carry fixed metadata (mtime 0, uid/gid 0, mode 0644), so equal
frames give equal bytes.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from wmhub.fileio import fsync_dir, tmp_name

PNG_COMPRESS_LEVEL = 6


def episode_key(episode_index: int) -> str:
    """The WebDataset key of an episode's sample."""
    return f"episode_{episode_index:08d}"


def encode_png(frame: np.ndarray) -> bytes:
    """PNG bytes of one ``uint8 [H, W, 3]`` frame."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """``uint8 [H, W, 3]`` from PNG bytes."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class FrameShardWriter:
    """Writes one tar shard atomically: temp name, fsync, rename on ``close``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_name(path)
        self.handle = open(self.tmp, "wb")
        self.tar = tarfile.open(fileobj=self.handle, mode="w", format=tarfile.USTAR_FORMAT)
        self.frames = 0

    def add_episode(self, episode_index: int, frames: np.ndarray) -> None:
        """Append one episode's frames ``uint8 [T+1, S, S, 3]`` as a sample."""
        key = episode_key(episode_index)
        meta = {"episode_index": int(episode_index), "num_frames": int(len(frames)),
                "height": int(frames.shape[1]), "width": int(frames.shape[2]), "encoding": "png"}
        _add(self.tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
        for t, frame in enumerate(frames):
            _add(self.tar, f"{key}.f{t:04d}.png", encode_png(frame))
        self.frames += len(frames)

    def close(self) -> None:
        """Finish the tar and move it to its final name."""
        self.tar.close()
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)

    def abort(self) -> None:
        """Drop the temporary file (on error)."""
        self.tar.close()
        self.handle.close()
        self.tmp.unlink(missing_ok=True)


def iter_frame_episodes(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(episode_index, frames uint8 [T+1, H, W, 3])`` from one tar shard, in order."""
    with tarfile.open(path, mode="r") as tar:
        current, frames = None, []
        for member in tar:
            if not member.isfile():
                continue
            key, _, field = member.name.partition(".")
            if field == "json":
                if current is not None:
                    yield current, np.stack(frames)
                current, frames = int(json.loads(tar.extractfile(member).read())["episode_index"]), []
            elif field.endswith(".png"):
                frames.append(decode_png(tar.extractfile(member).read()))
        if current is not None:
            yield current, np.stack(frames)


def tar_contents(path: str | Path) -> dict[int, int]:
    """``{episode_index: number of frames}`` from the member names of a tar shard (no decoding)."""
    counts: dict[int, int] = {}
    with tarfile.open(path, mode="r") as tar:
        for name in tar.getnames():
            key, _, field = name.partition(".")
            if not key.startswith("episode_") or "/" in name:
                raise ValueError(f"unexpected member {name!r}")
            index = int(key.removeprefix("episode_"))
            counts.setdefault(index, 0)
            if field.endswith(".png"):
                counts[index] += 1
    return counts

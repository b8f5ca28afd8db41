"""Write frames to an MP4 (H.264 through ``imageio-ffmpeg``) or an animated GIF (Pillow), atomically.

``imageio-ffmpeg``'s wheel carries its own ffmpeg binary, so MP4 needs no system package. MP4 frames
are H.264 ``yuv420p`` (what browsers and the Hub play; lossy), encoded in a separate ffmpeg process
while the next frames render. GIF frames share one 256-colour palette, chosen from the first frame
and the ``palette_colors`` a caller names (the overlay's colours, which the first frame may lack);
each frame is mapped to it as it arrives (~1 ms, one byte per pixel kept in memory) and the file is
written when the writer closes. One palette means a still region keeps its exact colours from frame
to frame (no flicker) and Pillow stores only the changed part of each frame (smaller files). GIF
delays count in hundredths of a second, so ``fps`` above 50 is written as 50.

Both are written under a temporary name and renamed on :meth:`VideoWriter.close`; an error before
that (:meth:`VideoWriter.abort`) leaves nothing at the destination. Same frames, same fps and the
same ffmpeg give the same bytes (ffmpeg runs with ``-fflags +bitexact``, which drops its version tag).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wmhub.errors import ConfigError, MissingDependencyError
from wmhub.fileio import fsync_dir, tmp_name

VIDEO_FORMATS = (".mp4", ".gif")
GIF_MAX_FPS = 50  # GIF delays are whole hundredths of a second; browsers slow anything under 2 to 10


def video_format(path: str | os.PathLike[str]) -> str:
    """``"mp4"`` or ``"gif"`` from a file name.

    Args:
        path: the output file.

    Returns:
        The format.

    Raises:
        ConfigError: another suffix.

    Example:
        >>> video_format("episode-3.gif")
        'gif'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in VIDEO_FORMATS:
        raise ConfigError(f"{path}: cannot write {suffix or 'a file without suffix'}; name the output "
                          "FILE.mp4 (H.264 video) or FILE.gif (animated GIF, e.g. for cards)")
    return suffix[1:]


class VideoWriter:
    """Frames ``uint8 [H, W, 3]`` (all of one size) to ``path``; see the module docstring.

    Args:
        path: ``*.mp4`` or ``*.gif``.
        fps: frames per second.
        palette_colors: GIF only: RGB colours the palette must hold besides the first frame's.

    Raises:
        ConfigError: another suffix, or ``fps`` not positive.

    Example:
        >>> with VideoWriter("episode.mp4", fps=50) as out:  # doctest: +SKIP
        ...     for frame in frames:
        ...         out.add(frame)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float,
                 palette_colors: Sequence[tuple[int, int, int]] = ()) -> None:
        if not fps > 0:
            raise ConfigError(f"--fps must be positive, got {fps}")
        self.path = Path(path)
        self.format = video_format(self.path)
        self.fps = float(fps)
        self.tmp = tmp_name(self.path)
        self.frames = 0
        self.shape: tuple[int, ...] | None = None
        self._mp4 = None
        self._gif: list = []
        self._palette = None
        self._palette_colors = [tuple(int(v) for v in c) for c in palette_colors]

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _start_mp4(self, height: int, width: int) -> None:
        try:
            import imageio_ffmpeg
        except ImportError as exc:  # pragma: no cover - a dependency of wmhub
            raise MissingDependencyError("writing MP4 needs imageio-ffmpeg: pip install imageio-ffmpeg") from exc
        if height % 2 or width % 2:
            raise ConfigError(f"H.264 needs even frame sizes, got {width}x{height}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._mp4 = imageio_ffmpeg.write_frames(
            str(self.tmp), (width, height), fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, bitrate=None, macro_block_size=1, ffmpeg_log_level="error",
            output_params=["-crf", "18", "-preset", "veryfast", "-fflags", "+bitexact", "-f", "mp4"])
        self._mp4.send(None)

    def add(self, frame: np.ndarray) -> None:
        """Append one frame.

        Args:
            frame: ``uint8 [H, W, 3]``, the size of the first frame.

        Raises:
            ConfigError: a frame of another size or type.
        """
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ConfigError(f"video frames are uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
        if self.shape is None:
            self.shape = frame.shape
            if self.format == "mp4":
                self._start_mp4(frame.shape[0], frame.shape[1])
        elif frame.shape != self.shape:
            raise ConfigError(f"frame {self.frames} is {list(frame.shape)}, the first was {list(self.shape)}")
        if self.format == "mp4":
            self._mp4.send(np.ascontiguousarray(frame))
        else:
            from PIL import Image

            if self._palette is None:
                swatch = np.zeros((1, max(1, len(self._palette_colors)), 3), np.uint8)
                swatch[0, :len(self._palette_colors)] = self._palette_colors or [(0, 0, 0)]
                # the swatch is repeated into rows as wide as the frame so that median cut weighs it
                rows = np.resize(swatch, (8, frame.shape[1], 3)).astype(np.uint8)
                self._palette = Image.fromarray(np.concatenate([frame, rows])).quantize(
                    256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
            self._gif.append(Image.fromarray(frame).quantize(palette=self._palette, dither=Image.Dither.NONE))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file and move it to ``path``.

        Returns:
            The path written.

        Raises:
            ConfigError: no frame was added.
        """
        if not self.frames:
            self.abort()
            raise ConfigError(f"{self.path}: no frames to write")
        try:
            if self.format == "mp4":
                self._mp4.close()
                self._mp4 = None
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                delay = max(2, round(100 / self.fps)) * 10  # milliseconds, whole hundredths
                self._gif[0].save(self.tmp, format="GIF", save_all=True, append_images=self._gif[1:],
                                  duration=delay, loop=0, optimize=False, disposal=1)
                self._gif = []
            with open(self.tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(self.tmp, self.path)
            fsync_dir(self.path.parent)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop and remove the temporary file (nothing is left at ``path``)."""
        if self._mp4 is not None:
            try:
                self._mp4.close()
            except Exception:  # noqa: BLE001 - ffmpeg may already be gone; the file is dropped anyway
                pass
            self._mp4 = None
        self._gif = []
        self.tmp.unlink(missing_ok=True)

"""The README's report screenshots: docs/report-dataset.png and docs/report-run.png.

Runs ``wmhub quickstart`` in a work folder (or reuses the reports of one that ran), then takes a
screenshot of the top of its dataset report and of its dynamics model's report with headless
Chromium (``chromium --headless --screenshot``), and writes them as small palette PNGs
(under 300 KB each) into ``docs/``.

    python benchmarks/report_screenshots.py                          # quickstart in a new temporary folder
    python benchmarks/report_screenshots.py --workdir wmhub-quickstart
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

from wmhub.quickstart import run_quickstart

DOCS = Path(__file__).resolve().parents[1] / "docs"
WIDTH, HEIGHT = 1280, 1500  # the window (CSS pixels); the top of each report
SCALE = 0.6  # the PNG is this fraction of the window
LIMIT = 300_000  # bytes


def screenshot(page: Path, out: Path, *, width: int = WIDTH, height: int = HEIGHT) -> int:
    """Screenshot the top ``height`` pixels of ``page``, scaled down to a palette PNG; its size in bytes.

    Args:
        page: an HTML file.
        out: the PNG.
        width: window width.
        height: window height.

    Returns:
        The PNG's size in bytes.

    Raises:
        FileNotFoundError: chromium is not installed.
    """
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise FileNotFoundError("chromium is needed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="wmhub-shot-") as tmp:
        raw = Path(tmp) / "shot.png"
        subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
                        f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
                        "--virtual-time-budget=5000", f"--screenshot={raw}", page.resolve().as_uri()],
                       check=True, capture_output=True, timeout=300)
        image = Image.open(raw).convert("RGB")
    image = image.resize((int(width * SCALE), int(height * SCALE)), Image.Resampling.LANCZOS)
    for colours in (128, 64, 32):
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
        if out.stat().st_size < LIMIT:
            break
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=None, help="quickstart folder (default: a temporary one)")
    args = parser.parse_args()
    if args.workdir is None:  # the pages then name relative paths, as a user's quickstart shows them
        os.chdir(tempfile.mkdtemp(prefix="wmhub-shots-"))
    workdir = args.workdir or Path("wmhub-quickstart")
    dataset_page = workdir / "reports" / "tiny-reacher" / "index.html"
    run_page = workdir / "reports" / "tiny_reacher_dynamics_state" / "index.html"
    if not (dataset_page.is_file() and run_page.is_file()):
        result = run_quickstart(workdir)
        dataset_page, run_page = result["reports"][0], result["reports"][1]
    for page, name in ((dataset_page, "report-dataset.png"), (run_page, "report-run.png")):
        size = screenshot(page, DOCS / name)
        print(f"{DOCS / name}: {size / 1000:.0f} KB (from {page})")


if __name__ == "__main__":
    main()

"""The reports in a real browser: headless Chromium loads every image and video, logs no error, and is screenshotted.

Needs Debian's ``chromium`` (``.ci/run`` installs it when missing). Without it the tests fail with the
install hint, unless ``WMHUB_BROWSER_UNAVAILABLE`` says why it cannot be installed here (then they skip
with that reason). The screenshots are kept: under ``$WMHUB_TEST_ARTEFACTS`` when set, else in
pytest's temporary folder; their paths are printed.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from wmhub.reporting.build import report

from support.browser import INSTALL_HINT, check_page, chromium_path
from support.reports import make_evaluated_run


@pytest.fixture(scope="module")
def browser() -> None:
    if chromium_path() is None:
        reason = os.environ.get("WMHUB_BROWSER_UNAVAILABLE")
        if reason:
            pytest.skip(f"no chromium: {reason}")
        pytest.fail(INSTALL_HINT)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    chosen = os.environ.get("WMHUB_TEST_ARTEFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check(page: Path, artefacts: Path, name: str) -> None:
    shot = artefacts / f"{name}.png"
    result = check_page(page, shot)
    print(f"\nscreenshot of the {name}: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not result.console_errors, result.console_errors
    assert not result.failed_media, result.failed_media
    assert result.images, "the page shows no image"
    for href in result.links:  # every link points into the page or to a file beside it
        if href.startswith("#"):
            assert href[1:] in result.ids, href
        else:
            assert not urlsplit(href).scheme, f"{href}: the report links outside its folder"
            assert (page.parent / unquote(href)).is_file(), href
    return result


def test_dataset_report_in_chromium(browser, artefacts, small_dataset, tmp_path):
    built = report(small_dataset, tmp_path / "dataset-report", thumbnails=3, video_size=64, show_progress=False)
    result = _check(built.page, artefacts, "report-dataset")
    thumbs = [i for i in result.images if "/thumbs/" in i["src"]]
    assert len(thumbs) == 3
    # the video in the page and the three linked from the thumbnails all decode
    assert len(result.videos) == 4 and all(v["src"].endswith(".mp4") for v in result.videos)


def test_run_report_in_chromium(browser, artefacts, tmp_path):
    run = make_evaluated_run(tmp_path / "run")
    built = report(run, tmp_path / "run-report", show_progress=False)
    result = _check(built.page, artefacts, "report-run")
    srcs = [i["src"] for i in result.images]
    assert sum(s.startswith("data:image/svg+xml") for s in srcs) == 3
    assert any(s.endswith("media/goal-success-episode-0.gif") for s in srcs)

"""`wmhub report`: what the dataset and run pages show, measured against the data they were built from."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.layout import STEPS_CONFIG
from wmhub.data.reader import open_dataset
from wmhub.data.schema import column_numpy
from wmhub.errors import AlreadyExistsError, ConfigError, NotFoundError
from wmhub.reporting.build import report
from wmhub.reporting.dataset_scan import scan_steps
from wmhub.reporting.projection import embedding_configs, project
from wmhub.runs.push import push
from wmhub.runs.reproduce import MetricComparison, ReproduceResult, flatten_metrics
from wmhub.runs.run import Run

from support.reports import make_evaluated_run


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    return make_evaluated_run(tmp_path_factory.mktemp("report-run"))


def _no_network(html: str) -> None:
    """Nothing in the page is fetched from the network (no CDN, no remote fonts, no script at all)."""
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html


def test_streaming_histograms_count_every_row(small_dataset):
    """One pass over the shards gives the histogram of the whole table, on the manifest's exact range."""
    ds = open_dataset(small_dataset)
    scan = scan_steps(ds)
    table = ds.table(STEPS_CONFIG)
    infos = {f.name: f for f in ds.features(STEPS_CONFIG)}
    stats = ds.manifest.stats(STEPS_CONFIG)
    by_name = {f.name: f for f in scan.features}
    assert "episode_index" not in by_name and set(by_name) == set(stats) - {"episode_index", "step_index"}
    last = table.column("is_last").to_numpy(zero_copy_only=False).astype(bool)
    for name in ("position", "qvel", "reward"):
        values = column_numpy(table, infos[name]).astype(np.float64).reshape(table.num_rows, -1)
        values = values[~last] if infos[name].terminal_null else values
        f = by_name[name]
        assert f.counts.sum(axis=1).tolist() == [stats[name].count] * f.dims == [len(values)] * f.dims
        for d in range(f.dims):
            assert f.edges[d][0] == stats[name].min[d] and f.edges[d][-1] == stats[name].max[d]
            assert f.counts[d].tolist() == np.histogram(values[:, d], f.edges[d])[0].tolist()
    flags = column_numpy(table, infos["is_random_action"])
    present = ~last
    assert scan.actions.actions == present.sum()
    assert scan.actions.random_share == pytest.approx(flags[present].astype(bool).mean())
    assert scan.actions.random_counts.sum(axis=1).tolist() == [int(flags[present].astype(bool).sum())] * 2


def test_dataset_report_shows_the_data_and_is_reproducible(small_dataset, tmp_path):
    result = report(small_dataset, tmp_path / "r", thumbnails=2, video_size=64, show_progress=False)
    assert result.kind == "dataset" and result.page == tmp_path / "r" / "index.html"
    assert result.sections[:3] == ["Size and provenance", "Episodes", "Returns, success and episode length"]
    assert {"Features", "Actions"} <= set(result.sections) and result.notes == []
    html = result.page.read_text()
    _no_network(html)
    ds = open_dataset(small_dataset)
    assert ds.manifest.generator.command in html and f"{ds.num_transitions:,}" in html
    table = ds.table("episodes")
    success = table.column("success").to_numpy(zero_copy_only=False).mean()
    assert f"{success:.1%}" in html
    steps = ds.table(STEPS_CONFIG, ["is_random_action", "is_last"])
    flags = steps.column("is_random_action").fill_null(False).to_numpy(zero_copy_only=False)[
        ~steps.column("is_last").to_numpy(zero_copy_only=False)]
    assert f"{flags.mean():.1%} of the {len(flags):,} actions were drawn uniformly" in html
    gifs = sorted(p.name for p in (tmp_path / "r" / "thumbs").iterdir())
    assert gifs == ["episode-000000.gif", "episode-000011.gif"]  # the first and the last episode
    for gif in gifs:
        assert (tmp_path / "r" / "thumbs" / gif).read_bytes()[:6] == b"GIF89a"
    videos = re.findall(r'href="(videos/[^"]+\.mp4)"', html)
    assert len(videos) == 2 and all((tmp_path / "r" / v).stat().st_size > 0 for v in videos)
    # the same data give the same page, byte for byte, and the same thumbnails
    again = report(small_dataset, tmp_path / "r2", thumbnails=2, video_size=64, show_progress=False)
    assert again.page.read_bytes() == result.page.read_bytes()
    assert all((tmp_path / "r2" / "thumbs" / g).read_bytes() == (tmp_path / "r" / "thumbs" / g).read_bytes()
               for g in gifs)


def test_embedding_config_gets_a_pca_coloured_by_distance(small_copy, tmp_path):
    from wmhub.encoding.job import encode_dataset

    encode_dataset(small_copy, "state", show_progress=False, workers=0)
    ds = open_dataset(small_copy)
    assert embedding_configs(ds) == ["embeddings-state"]
    p = project(ds, "embeddings-state", max_points=100)
    assert p.rows == len(p.points) == len(p.colour) <= 100 and p.total_rows == ds.manifest.num_rows(STEPS_CONFIG)
    assert sum(p.explained) <= 1.0 + 1e-9 and p.explained[0] >= p.explained[1] > 0
    to_target = ds.table(STEPS_CONFIG, ["to_target"]).column("to_target").to_numpy(zero_copy_only=False)
    stride = -(-p.total_rows // 100)
    expected = np.linalg.norm(np.stack(to_target[::stride]).astype(np.float64), axis=1)
    np.testing.assert_allclose(p.colour, expected, rtol=1e-6)
    result = report(small_copy, tmp_path / "r", thumbnails=0, show_progress=False)
    assert "Embeddings (PCA)" in result.sections and "plots/pca-embeddings-state.png" in result.files
    assert (tmp_path / "r" / "plots" / "pca-embeddings-state.png").read_bytes()[:4] == b"\x89PNG"


def test_run_report_shows_what_the_run_measured(evaluated, tmp_path):
    result = report(evaluated, tmp_path / "r", show_progress=False)
    assert result.kind == "run"
    assert result.sections == ["Recipe", "Training", "Latent prediction", "Planning: goal-success"]
    html = result.page.read_text()
    _no_network(html)
    run = Run.open(evaluated, finished=True)
    latent = run.eval_results.suites["latent"]
    assert f"{latent['horizons']['1']['cosine']['mean']:.4g}" in html
    assert f"{latent['horizons']['10']['copy_last_cosine']['mean']:.4g}" in html
    goal = run.eval_results.suites["goal-success"]
    assert "Success by distance to the goal at the start" in html and "Cost per action" in html
    assert f"{goal['wall_time_per_action_s']:.3g} s" in html
    assert goal["videos"] == ["goal-success-episode-0.gif"] and 'src="media/goal-success-episode-0.gif"' in html
    assert (tmp_path / "r" / "media" / "goal-success-episode-0.gif").read_bytes() == (
        evaluated / "eval" / "goal-success-episode-0.gif").read_bytes()
    assert f"{run.summary.val_baseline_loss:.4g} (copy-last)" in html
    assert html.count('src="data:image/svg+xml;base64,') == 3  # training curve, cosine and L2 vs horizon
    # a run that is not evaluated: the evaluation sections are left out and the note says why
    bare = tmp_path / "bare"
    shutil.copytree(evaluated, bare, ignore=shutil.ignore_patterns("eval"))
    plain = report(bare, tmp_path / "r-bare", show_progress=False)
    assert plain.sections == ["Recipe", "Training"] and "not evaluated" in plain.notes[0]


def test_reproduction_report_sets_claims_beside_the_reproduced_metrics(evaluated, tmp_path):
    dest = tmp_path / "hub" / "tiny"
    push(Run.open(evaluated, finished=True), str(dest))
    result = report(evaluated, tmp_path / "r", claimed=str(dest), show_progress=False)
    assert result.kind == "reproduction" and result.sections[0] == "Claimed vs reproduced"
    html = result.page.read_text()
    claimed = flatten_metrics(Run.open(evaluated).eval_results)
    assert f"all {len(claimed)} claimed metrics reproduced within ±0.02" in html
    # a ReproduceResult (what wmhub.reproduce returns) gives the same table, failures marked
    metrics = [MetricComparison("suites.latent.horizons.1.cosine.mean", 0.5, 0.99),
               MetricComparison("validation.loss", 0.1, None)]
    typed = report(ReproduceResult(evaluated, 0.02, metrics), tmp_path / "r2", show_progress=False)
    text = typed.page.read_text()
    assert "2 of 2 claimed metrics outside ±0.02" in text and "missing" in text and "+98.00%" in text
    with pytest.raises(ConfigError, match="pushed checkpoint"):
        report(dest, tmp_path / "r3", show_progress=False)


def test_errors_leave_nothing_half_written(small_dataset, evaluated, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(AlreadyExistsError, match="not a wmhub report"):
        report(small_dataset, other, thumbnails=0, show_progress=False)
    assert [p.name for p in other.iterdir()] == ["mine.txt"]
    with pytest.raises(NotFoundError):
        report(tmp_path / "missing", tmp_path / "out", show_progress=False)
    with pytest.raises(ConfigError, match="run directory"):
        report(small_dataset, tmp_path / "out", claimed=str(evaluated), show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]
    # an earlier report is replaced as a whole
    first = report(small_dataset, tmp_path / "r", thumbnails=1, video_size=64, show_progress=False)
    assert any(f.startswith("thumbs/") for f in first.files)
    second = report(small_dataset, tmp_path / "r", thumbnails=0, show_progress=False)
    assert not (tmp_path / "r" / "thumbs").exists() and second.files == sorted(
        p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r").rglob("*")
        if p.is_file() and p.name != ".wmhub-report")


def test_cli_report(small_dataset, tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(main, ["report", "--help"]).output
    assert "Example:" in help_text and "wmhub report data/reacher-100k --out reports/reacher-100k" in help_text
    out = runner.invoke(main, ["report", str(small_dataset), "--out", str(tmp_path / "r"), "--thumbnails", "0",
                               "--quiet"])
    assert out.exit_code == 0, out.output
    assert "dataset report (4 sections, 1 files)" in out.output and str(tmp_path / "r" / "index.html") in out.output
    bad = runner.invoke(main, ["report", str(small_dataset), "--out", str(tmp_path / "x"), "--thumbnails", "-1"])
    assert bad.exit_code == 2 and bad.output.startswith("error: ") and len(bad.output.strip().splitlines()) == 1


def test_report_of_a_hub_dataset_names_its_revision(small_dataset, tmp_path):
    import wmhub
    from wmhub.hub.verbs import publish

    hub = tmp_path / "hub" / "small"
    publish(small_dataset, str(hub), tag="v1.0")
    result = wmhub.report(str(hub), tmp_path / "r", revision="v1.0", thumbnails=0, show_progress=False)
    html = result.page.read_text()
    assert re.search(r"<td>revision</td>\s*<td[^>]*>v1\.0</td>", html) and f"{hub} @ v1.0" in html

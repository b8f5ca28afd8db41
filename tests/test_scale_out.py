"""Scale-out of `wmhub generate`: the Ray executor and fsspec (S3) destinations.

The Ray tests start a local Ray instance in this process (2 CPUs); the S3 tests run
moto's S3-compatible server on 127.0.0.1 and talk to it through s3fs (real HTTP, no
mocked client). Both give the bytes of the local executor's reference dataset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from conftest import SMALL, SMALL_OPTIONS, tree_bytes
from toolkit.errors import InterruptedJobError, WmhubError
from toolkit.generate import generate


def _generate(out, **kwargs):
    return generate("reacher", out, SMALL["episodes"], options=SMALL_OPTIONS,
                    episodes_per_shard=SMALL["episodes_per_shard"], show_progress=False, **kwargs)


# ------------------------------------------------------------------ fast checks
def test_missing_ray_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(WmhubError, match=r"wmhub\[ray\]"):
        _generate(tmp_path / "out", executor="ray")
    assert not (tmp_path / "out").exists()  # refused before touching OUT


def test_ray_address_needs_ray_executor(tmp_path):
    with pytest.raises(WmhubError, match="--executor ray"):
        _generate(tmp_path / "out", ray_address="auto")


def test_missing_fsspec_backend_is_named(tmp_path):
    try:
        import gcsfs  # noqa: F401
        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    with pytest.raises(WmhubError, match="gcsfs"):
        _generate("gs://bucket/dataset")


def test_cli_lists_executor_options():
    from click.testing import CliRunner

    from toolkit.cli import main

    result = CliRunner().invoke(main, ["generate", "reacher", "--help"])
    assert "--executor [local|ray]" in result.output and "--ray-address" in result.output


# ------------------------------------------------------------------------ Ray
@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_is_byte_identical(ray_cluster, small_dataset, tmp_path):
    result = _generate(tmp_path / "ray", executor="ray")
    assert (result.shards_written, result.episodes_generated) == (3, 12)
    assert tree_bytes(tmp_path / "ray") == tree_bytes(small_dataset)


@pytest.mark.slow
def test_ray_task_killed_mid_shard_is_retried(ray_cluster, small_dataset, tmp_path, monkeypatch):
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    # test hook (toolkit/generate/ray_executor.py): each task's first attempt os._exit()s after one episode
    monkeypatch.setenv("WMHUB_TEST_CRASH_DIR", str(crashes))
    import toolkit.generate.job as job_module

    totals = [(0, 0)]

    class Recording(job_module.Progress):
        def update(self, units, secondary, extra=""):
            super().update(units, secondary, extra)
            totals.append((totals[-1][0] + units, self.secondary))

    monkeypatch.setattr(job_module, "Progress", Recording)
    _generate(tmp_path / "ray", executor="ray")
    assert sorted(p.name for p in crashes.iterdir()) == ["crashed-0-4", "crashed-4-8", "crashed-8-12"]
    assert tree_bytes(tmp_path / "ray") == tree_bytes(small_dataset)
    # the cluster-wide bar ends exactly at the job's size although every task ran twice
    assert totals[-1] == (SMALL["episodes"], SMALL["episodes"] * SMALL_OPTIONS["episode_length"])


@pytest.mark.slow
def test_ray_resume_after_crash_keeps_completed_shards(ray_cluster, small_dataset, tmp_path):
    out = tmp_path / "partial"
    _generate(out)
    complete = out / "data" / "steps" / "episodes-00000000-00000004.parquet"
    inode = complete.stat().st_ino
    for name in ("manifest.json", "README.md"):
        (out / name).unlink()
    for shard in (out / "data").rglob("*00000004-00000008.parquet"):
        shard.unlink()
    job = {"kind": "generate", "env": "reacher", "config": SMALL_OPTIONS, "episodes": 12, "episodes_per_shard": 4,
           "episode_start": 0}
    (out / ".wmhub-job.json").write_text(json.dumps(job))
    with pytest.raises(InterruptedJobError):
        _generate(out, executor="ray")
    result = _generate(out, executor="ray", resume=True)
    assert (result.shards_written, result.shards_reused) == (1, 2)
    assert complete.stat().st_ino == inode
    assert tree_bytes(out) == tree_bytes(small_dataset)


@pytest.mark.slow
def test_cli_ray_executor_joins_a_running_cluster(ray_cluster, small_dataset, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    out = tmp_path / "cli"
    args = [sys.executable, "-m", "toolkit.cli", "generate", "reacher", str(out), "--episodes", str(SMALL["episodes"]),
            "--episodes-per-shard", str(SMALL["episodes_per_shard"]), "--quiet", "--executor", "ray",
            "--ray-address", address]
    for key, value in SMALL_OPTIONS.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tree_bytes(out) == tree_bytes(small_dataset)


# ------------------------------------------------------------------------- S3
@pytest.fixture(scope="module")
def s3():
    """A real S3-compatible HTTP server on 127.0.0.1 (moto server mode) and s3fs options for it."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    import fsspec

    fs = fsspec.filesystem("s3", **options)
    fs.mkdir("wmhub-test")
    yield fs, options
    server.stop()


def _read_back(url, options, tmp_path):
    from toolkit.data.remote_fs import download_dataset

    return tree_bytes(download_dataset(url, tmp_path / "back", options))


@pytest.mark.slow
def test_s3_destination_is_byte_identical_and_verifies(s3, small_dataset, tmp_path):
    from toolkit.data.remote_fs import verify_remote

    fs, options = s3
    url = "s3://wmhub-test/local-executor/reacher"
    result = _generate(url, storage_options=options)
    assert result.shards_written == 3
    assert _read_back(url, options, tmp_path) == tree_bytes(small_dataset)
    assert verify_remote(url, options) == []
    assert not fs.exists(f"{url}/.wmhub.lock") and not fs.exists(f"{url}/.wmhub-job.json")
    # a rerun with the same size is a no-op; a damaged shard is reported by verify
    assert _generate(url, storage_options=options).shards_written == 0
    fs.pipe_file(f"{url}/data/steps/episodes-00000004-00000008.parquet", b"broken")
    assert any("episodes-00000004-00000008" in str(p) for p in verify_remote(url, options))


@pytest.mark.slow
def test_s3_resume_and_single_writer_lease(s3, small_dataset, tmp_path):
    fs, options = s3
    url = "s3://wmhub-test/resume/reacher"
    _generate(url, storage_options=options)
    # a crash after one shard pair: no manifest/card, a job file, shards 4-12 missing
    for rel in ("manifest.json", "README.md", "data/steps/episodes-00000004-00000008.parquet",
                "data/steps/episodes-00000008-00000012.parquet", "data/episodes/episodes-00000008-00000012.parquet"):
        fs.rm_file(f"{url}/{rel}")
    job = {"kind": "generate", "env": "reacher", "config": SMALL_OPTIONS, "episodes": 12, "episodes_per_shard": 4,
           "episode_start": 0}
    fs.pipe_file(f"{url}/.wmhub-job.json", json.dumps(job).encode())
    fs.invalidate_cache()
    with pytest.raises(InterruptedJobError):
        _generate(url, storage_options=options)
    # a live writer's lease (fresh heartbeat) is refused; a dead one's (stale) is taken over
    lease = {"owner": "other", "host": "elsewhere", "pid": 1, "heartbeat": time.time()}
    fs.pipe_file(f"{url}/.wmhub.lock", json.dumps(lease).encode())
    with pytest.raises(WmhubError, match="another wmhub job"):
        _generate(url, storage_options=options, resume=True)
    fs.pipe_file(f"{url}/.wmhub.lock", json.dumps({**lease, "heartbeat": time.time() - 3600}).encode())
    result = _generate(url, storage_options=options, resume=True)
    assert (result.shards_written, result.shards_reused) == (2, 1)
    assert _read_back(url, options, tmp_path) == tree_bytes(small_dataset)


@pytest.mark.slow
def test_s3_refuses_a_prefix_holding_other_files(s3, tmp_path):
    fs, options = s3
    fs.pipe_file("s3://wmhub-test/busy/notes.txt", b"not a dataset")
    fs.invalidate_cache()
    with pytest.raises(WmhubError, match="not empty"):
        _generate("s3://wmhub-test/busy", storage_options=options)


@pytest.mark.slow
def test_ray_executor_writes_straight_to_s3(ray_cluster, s3, small_dataset, tmp_path):
    _, options = s3
    url = "s3://wmhub-test/ray/reacher"
    _generate(url, executor="ray", storage_options=options)
    assert _read_back(url, options, tmp_path) == tree_bytes(small_dataset)

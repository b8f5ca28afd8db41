"""Scale-out of `wmhub generate` and `wmhub encode`: the Ray executors and fsspec (S3) datasets.

The Ray tests start one local Ray instance in this process (2 CPUs) for the module;
the S3 tests run moto's S3-compatible server on 127.0.0.1 and talk to it through s3fs
(real HTTP, no mocked client). All give the bytes of the local executor's reference.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from wmhub.errors import InterruptedJobError, WmhubError
from wmhub.generation import generate

from support.datasets import SMALL, SMALL_OPTIONS, tree_bytes
from support.encoders import save_tiny_vjepa2


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

    from wmhub.cli import main

    result = CliRunner().invoke(main, ["generate", "reacher", "--help"])
    assert "--executor [local|ray]" in result.output and "--ray-address" in result.output


# ------------------------------------------------------------------------ Ray
def _record_progress(monkeypatch, module) -> list[tuple[int, int]]:
    """Replace ``module.Progress`` by one recording the running (units, secondary) totals."""
    totals = [(0, 0)]

    class Recording(module.Progress):
        def update(self, units, secondary, extra=""):
            super().update(units, secondary, extra)
            totals.append((totals[-1][0] + units, self.secondary))

    monkeypatch.setattr(module, "Progress", Recording)
    return totals


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
    # test hook (toolkit/ray_support.py): each task's first attempt os._exit()s after one episode
    monkeypatch.setenv("WMHUB_TEST_CRASH_DIR", str(crashes))
    import wmhub.generation.job as job_module

    totals = _record_progress(monkeypatch, job_module)
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
           "format_version": 2, "episode_start": 0}
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
    args = [sys.executable, "-m", "wmhub.cli", "generate", "reacher", str(out), "--episodes", str(SMALL["episodes"]),
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
    from wmhub.hub.verbs import download

    download(url, tmp_path / "back", storage_options=options, show_progress=False)
    origin = tmp_path / "back" / ".wmhub-origin.json"  # where the copy came from (download's record), not data
    assert json.loads(origin.read_text())["source"] == url
    return tree_bytes(tmp_path / "back")


@pytest.mark.slow
def test_s3_destination_is_byte_identical_and_verifies(s3, small_dataset, tmp_path):
    from wmhub.hub.verbs import verify

    fs, options = s3
    url = "s3://wmhub-test/local-executor/reacher"
    result = _generate(url, storage_options=options)
    assert result.shards_written == 3
    assert _read_back(url, options, tmp_path) == tree_bytes(small_dataset)
    assert verify(url, storage_options=options).problems == []
    assert not fs.exists(f"{url}/.wmhub.lock") and not fs.exists(f"{url}/.wmhub-job.json")
    # a rerun with the same size is a no-op; a damaged shard is reported by verify
    assert _generate(url, storage_options=options).shards_written == 0
    fs.pipe_file(f"{url}/data/steps/episodes-00000004-00000008.parquet", b"broken")
    assert any("episodes-00000004-00000008" in str(p) for p in verify(url, storage_options=options).problems)


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
           "format_version": 2, "episode_start": 0}
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


# ------------------------------------------------------------- encode on Ray
TINY = dict(episodes=4, episodes_per_shard=2)  # 2 shards of 2 episodes x 11 rows: cheap to render
TINY_OPTIONS = {**SMALL_OPTIONS, "episode_length": 10}


@pytest.fixture(scope="module")
def tiny_vjepa2(tmp_path_factory):
    """A tiny random V-JEPA 2, loaded by path in the Ray actors."""
    return save_tiny_vjepa2(tmp_path_factory.mktemp("models") / "vjepa2-tiny")


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A read-only tiny dataset: 2 shards of 2 episodes x 11 rows."""
    out = tmp_path_factory.mktemp("tiny") / "reacher"
    generate("reacher", out, TINY["episodes"], options=TINY_OPTIONS, episodes_per_shard=TINY["episodes_per_shard"],
             show_progress=False)
    return out


def _encoded_copy(source, dest, spec, **kwargs):
    """A copy of ``source`` encoded with ``spec`` by the local executor."""
    import shutil

    from wmhub.encoding import encode_dataset

    shutil.copytree(source, dest)
    encode_dataset(dest, spec, show_progress=False, **kwargs)
    return dest


def test_actor_plan_maps_devices_to_gpus():
    from wmhub.encoding.frames import FramesSettings
    from wmhub.encoding.job import EncodeSettings
    from wmhub.jobs.ray_actors import plan_actors

    vjepa = EncodeSettings("vjepa2:/m", "reacher", {}, [], workers=1)
    state = EncodeSettings("state", "reacher", {}, [])
    gpus, cpus = {"CPU": 16.0, "GPU": 4.0}, {"CPU": 16.0}
    plan = plan_actors("auto", vjepa, gpus)
    assert (plan.count, plan.num_gpus, plan.num_cpus, plan.device) == (4, 1, 2, "cuda")  # one actor per GPU
    assert plan_actors("cuda", vjepa, gpus) == plan
    plan = plan_actors("auto", vjepa, cpus)  # 1 thread + 1 render process each
    assert (plan.count, plan.num_gpus, plan.num_cpus, plan.device) == (8, 0, 2, "cpu")
    assert plan_actors("cpu", vjepa, gpus).num_gpus == 0
    assert plan_actors("auto", state, gpus).device == "cpu"  # no network, no GPU
    assert plan_actors("auto", FramesSettings(64, 0, {}), gpus).num_gpus == 0
    assert plan_actors("cuda:1", vjepa, gpus, requested=2).count == 2
    with pytest.raises(WmhubError, match="--device cpu"):
        plan_actors("cuda", vjepa, cpus)
    with pytest.raises(WmhubError, match="--ray-actors"):
        plan_actors("auto", vjepa, cpus, requested=0)
    with pytest.raises(WmhubError, match="lower --workers"):
        plan_actors("cpu", EncodeSettings("vjepa2:/m", "reacher", {}, [], workers=3), {"CPU": 2.0})


def test_encode_ray_options_need_ray_executor(small_dataset):
    from wmhub.encoding import encode_dataset

    with pytest.raises(WmhubError, match="--executor ray"):
        encode_dataset(small_dataset, "state", actors=2, show_progress=False)


@pytest.mark.slow
def test_cli_encode_on_ray_actors_is_byte_identical(ray_cluster, tiny_dataset, tiny_vjepa2, tmp_path):
    import shutil

    from click.testing import CliRunner

    from wmhub.cli import main

    spec = f"vjepa2:{tiny_vjepa2}"  # from_pretrained in the actor, frames rendered there
    reference = _encoded_copy(tiny_dataset, tmp_path / "local", spec, device="cpu", batch_size=7, workers=0)
    out = tmp_path / "ray"
    shutil.copytree(tiny_dataset, out)
    result = CliRunner().invoke(main, ["encode", str(out), "--encoder", spec, "--device", "cpu", "--batch-size", "7",
                                       "--workers", "0", "--quiet", "--executor", "ray", "--ray-actors", "1"])
    assert result.exit_code == 0, result.output
    assert "2 new shard(s)" in result.output
    assert tree_bytes(out) == tree_bytes(reference)


@pytest.mark.slow
def test_encode_resume_on_ray_keeps_shards_and_retries_a_killed_actor(ray_cluster, tiny_dataset, tmp_path,
                                                                     monkeypatch):
    import shutil

    import wmhub.jobs.derived as derived_module
    from wmhub.encoding import encode_dataset

    reference = _encoded_copy(tiny_dataset, tmp_path / "local", "state")
    # an encode job that died after its first shard: job file, shard 0-2 complete, no manifest entry
    out = tmp_path / "resumed"
    shutil.copytree(tiny_dataset, out)
    kept = "data/embeddings-state/episodes-00000000-00000002.parquet"
    (out / kept).parent.mkdir(parents=True)
    shutil.copy(reference / kept, out / kept)
    inode = (out / kept).stat().st_ino
    identity = next(c for c in json.loads((reference / "manifest.json").read_text())["configs"]
                    if c["name"] == "embeddings-state")["extra"]["identity"]
    (out / ".wmhub-job.json").write_text(json.dumps({"kind": "encode", "config": "embeddings-state",
                                                      "identity": identity}))
    crashes = tmp_path / "crashes"
    crashes.mkdir()
    # test hook (toolkit/ray_support.py): a shard's first attempt kills its actor after its first report,
    # unless its marker exists: only shard 2-4 crashes (each crash costs an actor restart)
    (crashes / "crashed-0-2").touch()
    monkeypatch.setenv("WMHUB_TEST_CRASH_DIR", str(crashes))
    totals = _record_progress(monkeypatch, derived_module)
    result = encode_dataset(out, "state", executor="ray", actors=1, resume=True, show_progress=False)
    assert sorted(p.name for p in crashes.iterdir()) == ["crashed-0-2", "crashed-2-4"]  # 2-4 crashed once
    assert (result.shards_written, result.shards_reused) == (1, 1)
    assert (out / kept).stat().st_ino == inode  # kept, not re-encoded
    assert tree_bytes(out) == tree_bytes(reference)
    rows = TINY["episodes"] * (TINY_OPTIONS["episode_length"] + 1)
    # all rows done, half of them encoded: shard 2-4 counted once although it ran twice, 0-2 reused
    assert totals[-1] == (rows, rows // 2)


@pytest.mark.slow
def test_s3_verify_info_and_encode(s3, small_dataset, tmp_path, monkeypatch):
    import shutil

    from click.testing import CliRunner

    from wmhub.cli import main
    from wmhub.encoding import encode_dataset

    fs, options = s3
    url = "s3://wmhub-test/encode/reacher"
    fs.put(str(small_dataset), url, recursive=True)
    fs.invalidate_cache()
    # the CLI reaches the server through the usual AWS variables
    for name, value in {"AWS_ENDPOINT_URL": options["endpoint_url"], "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    verified = runner.invoke(main, ["verify", url])
    assert verified.exit_code == 0 and f"OK {url}" in verified.output, verified.output
    remote_info = runner.invoke(main, ["info", url, "--json"])
    local_info = runner.invoke(main, ["info", str(small_dataset), "--json"])
    assert remote_info.exit_code == 0, remote_info.output
    assert json.loads(remote_info.output) == json.loads(local_info.output)
    # encode in place on S3 (each shard fetched, encoded, uploaded; manifest last) = encode of a local copy
    result = encode_dataset(url, "state", storage_options=options, show_progress=False)
    assert result.shards_written == 3
    local = tmp_path / "local"
    shutil.copytree(small_dataset, local)
    encode_dataset(local, "state", show_progress=False)
    assert _read_back(url, options, tmp_path) == tree_bytes(local)
    fs.pipe_file(f"{url}/data/embeddings-state/episodes-00000004-00000008.parquet", b"broken")
    bad = runner.invoke(main, ["verify", url])
    assert bad.exit_code == 1 and "BAD data/embeddings-state/episodes-00000004-00000008.parquet" in bad.output


@pytest.mark.slow
def test_s3_publish_download_and_open(s3, small_dataset, tmp_path, monkeypatch):
    """s3:// is an fsspec location for every dataset verb (never parsed as the local path 's3:/...')."""
    import os

    from wmhub.hub.verbs import download, info, open_dataset, publish

    monkeypatch.setenv("WMHUB_CACHE", str(tmp_path / "cache"))
    fs, options = s3
    for name, value in {"AWS_ENDPOINT_URL": options["endpoint_url"], "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    url = "s3://wmhub-test/published/reacher"
    result = publish(small_dataset, url)
    assert len(result.uploaded) == 6 and publish(small_dataset, url).noop
    assert not any(p.startswith("s3:") for p in os.listdir("."))  # nothing written to a local 's3:' folder
    assert info(url, storage_options=options).num_episodes == SMALL["episodes"]
    download(url, tmp_path / "back", show_progress=False)
    back, here = tree_bytes(tmp_path / "back"), tree_bytes(small_dataset)
    assert back.pop("README.md") != here.pop("README.md")  # the card published names where it lives
    assert back == here
    assert open_dataset(url, episodes="0-3").manifest.subset is not None

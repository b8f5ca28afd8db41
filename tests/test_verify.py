"""``wmhub verify`` catches every kind of damage, one line per bad shard."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.verify import verify_dataset

SHARD = "data/steps/episodes-00000004-00000008.parquet"


def _run(path):
    return CliRunner().invoke(main, ["verify", str(path)])


def test_clean_dataset_passes(small_copy):
    result = _run(small_copy)
    assert result.exit_code == 0, result.output
    assert verify_dataset(small_copy) == []


def test_flipped_byte(small_copy):
    path = small_copy / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = _run(small_copy)
    assert result.exit_code == 1
    bad = [line for line in result.output.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and SHARD in bad[0] and "SHA-256" in bad[0]


def test_truncated(small_copy):
    path = small_copy / SHARD
    path.write_bytes(path.read_bytes()[:-100])
    problems = verify_dataset(small_copy)
    assert [p.path for p in problems] == [SHARD] and "truncated" in problems[0].message


def test_missing(small_copy):
    (small_copy / SHARD).unlink()
    problems = verify_dataset(small_copy)
    assert [p.path for p in problems] == [SHARD] and "missing" in problems[0].message


def test_extra_unlisted_file(small_copy):
    extra = small_copy / "data" / "steps" / "episodes-00000012-00000016.parquet"
    shutil.copy(small_copy / SHARD, extra)
    problems = verify_dataset(small_copy)
    assert [p.path for p in problems] == ["data/steps/episodes-00000012-00000016.parquet"]
    assert "not listed" in problems[0].message


def test_manifest_path_outside_directory(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["shards"][0]["path"] = "../../etc/passwd"
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(small_copy)
    paths = [p.path for p in problems]
    assert "../../etc/passwd" in paths
    assert "outside" in problems[paths.index("../../etc/passwd")].message


def test_shard_with_wrong_episodes_is_caught(small_copy):
    # swap two shards' files and fix their checksums: sizes/hashes pass, episode ranges do not
    manifest = json.loads((small_copy / "manifest.json").read_text())
    a, b = manifest["shards"][0], manifest["shards"][1]
    pa_, pb = small_copy / a["path"], small_copy / b["path"]
    data_a, data_b = pa_.read_bytes(), pb.read_bytes()
    pa_.write_bytes(data_b)
    pb.write_bytes(data_a)
    for key in ("sha256", "num_bytes"):
        a[key], b[key] = b[key], a[key]
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_dataset(small_copy)
    assert {p.path for p in problems} == {a["path"], b["path"]}
    assert all("expected" in p.message for p in problems)


def test_unknown_format_version(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    result = _run(small_copy)
    assert result.exit_code == 1
    assert "format_version 99" in result.output


def test_bad_manifest_paths_are_problems_not_tracebacks(small_copy):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["shards"][0]["path"] = "data/steps/a\x00b"
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    result = _run(small_copy)
    assert result.exit_code == 1 and "outside" in result.output

"""Hostile inputs at the command line: paths too long to exist, credentials in HF_ENDPOINT, errors of
the environment. Each is one `error:` line and exit status 2 (1 only for "verify found bad data")."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.cli.group import ErrorReportingGroup, scrub_credentials
from wmhub.errors import WmhubError

from support.hub_server import HubServer, patch_endpoint

SECRET = "hf_notARealTokenButSecret"


def _long_path(root: Path, length: int) -> Path:
    if length < 4096:
        return root / ("x" * length)  # one component longer than NAME_MAX
    return root.joinpath(*["y" * 99] * (length // 100))  # longer than PATH_MAX


def _no_traceback(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.parametrize("length", [300, 5000])
@pytest.mark.parametrize("command", [["verify", "{p}"], ["info", "{p}"], ["download", "{d}", "{p}"],
                                     ["encode", "{p}", "--encoder", "state"],
                                     ["generate", "reacher", "{p}", "--episodes", "2"]])
def test_a_very_long_path_gives_one_line(small_dataset, tmp_path, length, command):
    path = str(_long_path(tmp_path, length))
    args = [a.format(p=path, d=small_dataset) for a in command]
    result = CliRunner().invoke(main, args)
    _no_traceback(result)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "too long" in lines[0], result.output
    assert len(lines[0]) < 400


@pytest.mark.parametrize("length", [300, 5000])
def test_a_manifest_naming_a_very_long_path_is_reported_not_raised(small_copy, length):
    manifest = json.loads((small_copy / "manifest.json").read_text())
    manifest["shards"][0]["path"] = "data/steps/" + "/".join(["z" * 99] * (length // 100)) + ".parquet"
    (small_copy / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(main, ["verify", str(small_copy)])
    _no_traceback(result)
    assert result.exit_code in (1, 2), result.output


def test_credentials_in_urls_are_scrubbed():
    assert SECRET not in scrub_credentials(f"GET https://user:{SECRET}@hub.example/api/x: 500")
    assert scrub_credentials("see https://hub.example/x") == "see https://hub.example/x"


def _group_raising(exc: BaseException) -> click.Group:
    @click.group(cls=ErrorReportingGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise exc

    return group


def test_an_error_quoting_the_endpoint_never_shows_its_token():
    url = f"https://user:{SECRET}@hub.example/api/datasets/a/b"
    result = CliRunner().invoke(_group_raising(WmhubError(f"reading {url} failed; retry")), ["boom"])
    assert result.exit_code == 2 and SECRET not in result.output and "hub.example" in result.output
    unexpected = RuntimeError(f"HTTP 500 for url {url}")
    result = CliRunner().invoke(_group_raising(unexpected), ["boom"])
    assert result.exception is unexpected and SECRET not in str(result.exception)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.ENAMETOOLONG, errno.EACCES])
def test_errors_of_the_environment_are_one_line(code):
    result = CliRunner().invoke(_group_raising(OSError(code, os.strerror(code), "/data/out")), ["boom"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/data/out" in lines[0], result.output


def test_a_token_in_hf_endpoint_never_appears_in_output(small_dataset, tmp_path):
    with HubServer(tmp_path / "server") as server:
        endpoint = server.url.replace("://", f"://user:{SECRET}@", 1)
        with patch_endpoint(endpoint, hf_home=tmp_path / "hf-home"):
            for args in (["download", "hf://datasets/nobody/none", str(tmp_path / "out")],
                         ["verify", "hf://datasets/nobody/none"], ["info", "hf://datasets/nobody/none"],
                         ["publish", str(small_dataset), "hf://datasets/nobody/none"]):
                result = CliRunner().invoke(main, args)
                assert SECRET not in result.output, (args, result.output)
                assert result.exception is None or SECRET not in repr(result.exception)

"""Hostile inputs to the interop and card code: names from a manifest never become paths outside their
folder, a LeRobot export with a symbolic link is never uploaded, and credentials in a data URL never
reach a public card."""

from __future__ import annotations

import json
import os

import pytest

from wmhub.data.manifest import Manifest
from wmhub.errors import ConfigError
from wmhub.interop.publish import publish_lerobot
from wmhub.runs.training_data import _spelled
from wmhub.storage.location import parse_location


@pytest.mark.parametrize("name", ["x/../../../evil", "../steps", "/abs", "a\\b", ""])
def test_a_config_name_that_is_a_path_is_refused_on_read(small_copy, name):
    raw = json.loads((small_copy / "manifest.json").read_text())
    raw["configs"][0]["name"] = name
    with pytest.raises(ConfigError, match=r"invalid at configs\.0\.name"):
        Manifest.from_json_obj(raw, source="manifest.json")


def test_a_lerobot_export_holding_a_symbolic_link_is_not_published(small_dataset, tmp_path):
    from click.testing import CliRunner

    from wmhub.cli import main

    out = tmp_path / "lerobot"
    result = CliRunner().invoke(main, ["export", str(small_dataset), str(out), "--format", "lerobot",
                                       "--repo-id", "wm-lab/reacher", "--quiet"])
    assert result.exit_code == 0, result.output
    secret = tmp_path / "token.txt"
    secret.write_text("hf_secret")
    os.symlink(secret, out / "meta" / "token.txt")
    # refused before any store is opened, so no server is needed to show it
    with pytest.raises(ConfigError, match="symbolic link"):
        publish_lerobot(out, "hf://datasets/wm-lab/reacher")


@pytest.mark.parametrize("url", ["s3://key:secret@bucket/data?versionId=3", "https://user:tok@host/d#x"])
def test_credentials_in_a_data_url_never_reach_the_card(url):
    spelled = _spelled(parse_location(url))
    assert "secret" not in spelled and "tok" not in spelled and "?" not in spelled and "#" not in spelled
    assert spelled.endswith(("bucket/data", "host/d"))

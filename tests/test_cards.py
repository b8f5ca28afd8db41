"""Dataset cards: YAML that ``huggingface_hub``'s card classes accept, with ``pretty_name``, a ``dataset_info``
built from the manifest's features, a license parameter, and Uses / Out-of-scope / Limitations sections."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, DatasetCardData

from wmhub.data.card import dataset_info, render_dataset_card, with_configs_of
from wmhub.data.manifest import Manifest

SECTIONS = ("## Uses", "## Out-of-scope use", "## Limitations")


@pytest.fixture(scope="module")
def card(small_dataset) -> DatasetCard:
    return DatasetCard((small_dataset / "README.md").read_text(encoding="utf-8"))


def test_the_card_data_validates_and_names_the_dataset(card, small_dataset):
    assert isinstance(card.data, DatasetCardData)
    data = DatasetCardData(**card.data.to_dict())  # round-trips through the card data class
    manifest = Manifest.read(small_dataset)
    config = manifest.generator.config
    assert data.pretty_name == f"reacher-easy rollouts ({config['policy']}, ε = {config['epsilon']})"
    assert data.license == "apache-2.0"
    assert card.text.lstrip().startswith(f"# {data.pretty_name}\n")


def test_dataset_info_lists_every_parquet_config_with_the_manifest_features(card, small_dataset):
    manifest = Manifest.read(small_dataset)
    info = {entry["config_name"]: entry for entry in card.data.dataset_info}
    assert set(info) == {c.name for c in manifest.configs if c.format == "parquet"}
    for cfg in manifest.configs:
        features = info[cfg.name]["features"]
        assert [f["name"] for f in features] == [f.name for f in cfg.features]
        for yaml_feature, feature in zip(features, cfg.features, strict=True):
            if feature.shape:
                assert (yaml_feature["sequence"], yaml_feature["length"]) == (feature.dtype, feature.shape[0])
            else:
                assert yaml_feature["dtype"] == feature.dtype
        split = info[cfg.name]["splits"][0]
        assert split["name"] == "train" and split["num_examples"] == manifest.num_rows(cfg.name)
        assert info[cfg.name]["download_size"] == sum(s.num_bytes for s in manifest.shards_of(cfg.name))


def test_dataset_info_is_what_datasets_reads(card, small_dataset):
    import datasets

    manifest = Manifest.read(small_dataset)
    for entry in card.data.dataset_info:
        features = datasets.Features._from_yaml_list(entry["features"])
        steps = datasets.load_dataset(str(small_dataset), entry["config_name"], split="train")
        assert steps.features == features
        assert len(steps) == manifest.num_rows(entry["config_name"])


def test_the_body_has_uses_out_of_scope_and_limitations_with_the_measured_success(card, small_dataset):
    from wmhub.data.summary import summarize

    for heading in SECTIONS:
        assert heading in card.text, heading
    summary = summarize(small_dataset, Manifest.read(small_dataset))
    limitations = card.text.split("## Limitations", 1)[1].split("\n## ", 1)[0]
    assert f"{100 * summary.success_rate:.1f}%" in limitations
    assert "Simulation only" in limitations and "State-only observations" in limitations


def test_the_license_is_a_parameter(small_dataset):
    manifest = Manifest.read(small_dataset)
    text = render_dataset_card(small_dataset, manifest, "reacher.md", license="cc-by-4.0")
    assert DatasetCard(text).data.license == "cc-by-4.0"


def test_a_partial_download_card_counts_only_the_rows_it_holds(small_dataset, tmp_path):
    manifest = Manifest.read(small_dataset)
    kept = manifest.model_copy(update={"shards": [s for s in manifest.shards if s.episode_start == 0]})
    out = tmp_path / "partial"
    out.mkdir()
    for shard in kept.shards:
        (out / shard.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(small_dataset / shard.path, out / shard.path)
    card = DatasetCard(with_configs_of((small_dataset / "README.md").read_text(encoding="utf-8"), kept))
    assert card.data.dataset_info == dataset_info(kept)
    (out / "README.md").write_text(str(card), encoding="utf-8")
    import datasets

    assert len(datasets.load_dataset(str(out), split="train")) == kept.num_rows("steps")


def test_a_finished_job_leaves_no_lock_file(small_dataset):
    assert not list(small_dataset.rglob(".wmhub.lock"))


@pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                    reason="no Menagerie Spot model (set MENAGERIE_ROOT)")
def test_the_spot_card_states_its_reward_and_limits(tmp_path):
    from wmhub.generation import generate

    out = tmp_path / "spot"
    generate("spot", out, 2, options={"episode_length": 20, "policy": "trot", "epsilon": 0.1, "seed": 3},
             episodes_per_shard=2, show_progress=False)
    card = DatasetCard((out / "README.md").read_text(encoding="utf-8"))
    manifest = Manifest.read(out)
    assert card.data.pretty_name == "Spot joystick rollouts (trot, ε = 0.1)"
    assert [f["name"] for f in card.data.dataset_info[0]["features"]] == [f.name for f in manifest.configs[0].features]
    for heading in SECTIONS:
        assert heading in card.text, heading
    limitations = card.text.split("## Limitations", 1)[1].split("\n## ", 1)[0]
    assert "reward" in limitations and "Playground" in limitations and "Simulation only" in limitations
    assert "State-only observations" in limitations
    assert not list(out.rglob(".wmhub.lock"))


def test_a_license_is_checked_against_the_hub_list():
    from wmhub.data.card import check_license
    from wmhub.errors import ConfigError

    assert check_license("CC-BY-4.0") == "cc-by-4.0" and check_license("odc-by") == "odc-by"
    with pytest.raises(ConfigError, match="did you mean apache-2.0"):
        check_license("apache2.0")
    with pytest.raises(ConfigError, match="not a license id the Hub lists"):
        check_license("other")  # needs a license_name and a LICENSE file, which a flag cannot give


def test_generate_license_flows_to_the_card_and_publish_keeps_or_replaces_it(tmp_path):
    from click.testing import CliRunner

    from wmhub.cli import main

    out = tmp_path / "licensed"
    args = ["generate", "reacher", str(out), "--episodes", "2", "--episodes-per-shard", "2", "--episode-length", "10",
            "--quiet"]
    bad = CliRunner().invoke(main, [*args, "--license", "cc-by-4"])
    assert bad.exit_code == 2 and bad.output.count("error:") == 1 and "cc-by-4.0" in bad.output, bad.output
    assert not out.exists() or not any(out.iterdir())  # refused before anything was written
    result = CliRunner().invoke(main, [*args, "--license", "CC-BY-4.0"])
    assert result.exit_code == 0, result.output
    assert DatasetCard((out / "README.md").read_text(encoding="utf-8")).data.license == "cc-by-4.0"
    grown = CliRunner().invoke(main, [*args[:3], "--episodes", "4", *args[5:]])  # an append keeps it
    assert grown.exit_code == 0, grown.output
    assert DatasetCard((out / "README.md").read_text(encoding="utf-8")).data.license == "cc-by-4.0"
    hub = tmp_path / "hub"
    assert CliRunner().invoke(main, ["publish", str(out), str(hub / "kept")]).exit_code == 0
    assert DatasetCard((hub / "kept" / "README.md").read_text(encoding="utf-8")).data.license == "cc-by-4.0"
    replaced = CliRunner().invoke(main, ["publish", str(out), str(hub / "odc"), "--license", "odc-by"])
    assert replaced.exit_code == 0, replaced.output
    card = DatasetCard((hub / "odc" / "README.md").read_text(encoding="utf-8"))
    assert card.data.license == "odc-by" and DatasetCardData(**card.data.to_dict()).license == "odc-by"

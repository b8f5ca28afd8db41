"""``wmhub export --format minari``: a real Minari dataset, read back with ``minari`` and compared with the source."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.reader import open_dataset

from support.datasets import tree_bytes

minari = pytest.importorskip("minari")  # the `minari` extra; installed by `make install`


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari-root"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def _episodes(path):
    ds = open_dataset(path)
    table = ds.table("episodes").to_pydict()
    return list(ds.iter_episodes()), {e: {k: v[i] for k, v in table.items()} for i, e in
                                      enumerate(table["episode_index"])}


def test_minari_export_loads_and_matches_the_source(small_copy, minari_root, monkeypatch):
    from wmhub.encoding import encode_dataset

    encode_dataset(small_copy, "state", show_progress=False)  # an embedding config: an extra observation key
    monkeypatch.chdir(minari_root.parent)  # a relative OUT (Minari's own size count once broke on one)
    result = CliRunner().invoke(main, ["export", str(small_copy), minari_root.name, "--format", "minari",
                                       "--dataset-id", "wmhub/reacher-small-v0", "--quiet"])
    assert result.exit_code == 0, result.output
    ds = minari.load_dataset("wmhub/reacher-small-v0")
    steps, episodes = _episodes(small_copy)
    assert ds.total_episodes == 12 and ds.total_steps == 12 * 30
    assert set(ds.observation_space.spaces) == {"position", "to_target", "velocity", "embedding.state"}
    embeddings = open_dataset(small_copy).load_tensors("embeddings-state").latents.numpy()
    sampled = ds.sample_episodes(5)
    assert len(sampled) == 5
    for episode in sampled:
        source = steps[episode.id]
        for key in ("position", "to_target", "velocity"):  # all T+1 observations, exactly
            np.testing.assert_array_equal(episode.observations[key], source[key])
        start = 31 * episode.id
        np.testing.assert_array_equal(episode.observations["embedding.state"], embeddings[start:start + 31])
        np.testing.assert_array_equal(episode.actions, source["action"][:-1])
        np.testing.assert_array_equal(episode.rewards, source["reward"][:-1])
        assert not episode.terminations.any() and episode.truncations.tolist() == [False] * 29 + [True]
        meta = next(iter(ds.storage.get_episode_metadata([episode.id])))
        expected = episodes[episode.id]
        assert meta["seed"] == expected["seed"] and meta["return"] == expected["return"]
        assert meta["success"] == expected["success"] and meta["total_steps"] == 30
    # the environment that generated the data, with the generator's episode length
    assert ds.spec.env_spec.id == "wmhub/ReacherEasy-v0" and ds.spec.env_spec.max_episode_steps == 30
    generator = json.loads(ds.storage.metadata["wmhub_generator"])
    assert generator["env"] == "reacher" and generator["config"]["episode_length"] == 30
    # deterministic: the same dataset exports to the same bytes
    again = CliRunner().invoke(main, ["export", str(small_copy), "again", "--format", "minari",
                                      "--dataset-id", "wmhub/reacher-small-v0", "--quiet"])
    assert again.exit_code == 0 and tree_bytes(minari_root.parent / "again") == tree_bytes(minari_root)


def test_minari_export_refuses_bad_ids_and_leaves_nothing(small_dataset, tmp_path):
    out = tmp_path / "root"
    result = CliRunner().invoke(main, ["export", str(small_dataset), str(out), "--format", "minari",
                                       "--dataset-id", "reacher-small"])
    assert result.exit_code == 2 and "name-v<N>" in result.output and not out.exists()
    result = CliRunner().invoke(main, ["export", str(small_dataset), str(out), "--format", "minari",
                                       "--repo-id", "a/b"])
    assert result.exit_code == 2 and "does not take --repo-id" in result.output
    assert not out.exists() and not list(tmp_path.glob(".root*"))


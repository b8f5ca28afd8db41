"""manifest.json keeps which library versions generated which episodes when a dataset grows."""

from __future__ import annotations

import json

from click.testing import CliRunner

from wmhub.cli import main
from wmhub.data.manifest import Manifest
from wmhub.data.verify import verify_dataset

from support.datasets import make_small


def _ranges(out) -> list[tuple[int, int, str]]:
    return [(r.episode_start, r.episode_end, r.versions["wmhub"]) for r in Manifest.read(out).version_ranges()]


def test_growing_with_other_versions_keeps_the_provenance_of_existing_shards(tmp_path, monkeypatch):
    import wmhub.generation.job as job

    out = make_small(tmp_path / "grow", episodes=8)
    created = Manifest.read(out).versions
    old = created["wmhub"]
    assert _ranges(out) == [(0, 8, old)]
    # a manifest written before `provenance` existed: still read, and means `versions` for every episode
    raw = json.loads((out / "manifest.json").read_text())
    del raw["provenance"]
    (out / "manifest.json").write_text(json.dumps(raw, indent=2) + "\n")
    assert Manifest.read(out).provenance is None and _ranges(out) == [(0, 8, old)]

    monkeypatch.setattr(job, "__version__", "99.0.0")  # a newer wmhub grows the dataset
    make_small(out, episodes=12)
    grown = Manifest.read(out)
    assert grown.versions == created  # the versions that created the dataset stay
    assert _ranges(out) == [(0, 8, old), (8, 12, "99.0.0")]
    assert grown.provenance[1].versions == {**created, "wmhub": "99.0.0"}
    make_small(out, episodes=16)  # the same versions again: the last range grows
    assert _ranges(out) == [(0, 8, old), (8, 16, "99.0.0")]
    assert verify_dataset(out) == []
    # `wmhub info` and the card say which versions made which episodes
    text = CliRunner().invoke(main, ["info", str(out)]).output
    assert f"episodes 0–7: wmhub {old}" in text and "episodes 8–15: wmhub 99.0.0" in text
    card = (out / "README.md").read_text()
    assert f"episodes 0–7: wmhub {old}" in card and "episodes 8–15: wmhub 99.0.0" in card

"""Dataset bytes are part of the contract: shards generated and encoded by this version must be
byte-identical to those recorded before the package was restructured (``import wmhub``).

A change that alters these bytes must say so and why (README, "Determinism"), and re-record them.
"""

from __future__ import annotations

import hashlib

import pytest

import wmhub

# SHA-256 of every shard, recorded with the code before the redesign (toolkit 0.1.0, commit ddbfab5)
RECORDED = {
    "reacher/data/embeddings-random-vjepa2-d16/episodes-00000000-00000004.parquet":
        "44136b64ff0b671f7a1c77a6223b15ff85d4a53d59ef4ca24640670a57aef722",
    "reacher/data/embeddings-random-vjepa2-d16/episodes-00000004-00000008.parquet":
        "67ac410d7e84af19bbcc045f6ac4f216aaffb1a3e54fce7a72cc3b7636146b47",
    "reacher/data/embeddings-random-vjepa2-d16/episodes-00000008-00000012.parquet":
        "ecab34e887e57568527bb99b42d45af6fc4252a296314b290461a2af0524f088",
    "reacher/data/embeddings-state/episodes-00000000-00000004.parquet":
        "11a6cbed3bae56852979baa7610e970c8494060681d86b1699a527f0b76f1af2",
    "reacher/data/embeddings-state/episodes-00000004-00000008.parquet":
        "e715d561bf60573cdf3002ad584d4e82cbd26de8a401b30b02d483bd3f8b2f30",
    "reacher/data/embeddings-state/episodes-00000008-00000012.parquet":
        "0668be483ae1417f53dca8a151ae382e66eb85c3968d5d0ca5ba62a4faaf6694",
    "reacher/data/episodes/episodes-00000000-00000004.parquet":
        "c3556d1f3730d785fabfafa822ff7c43c06a6d9206b9ddb33f253347fcd0b6ed",
    "reacher/data/episodes/episodes-00000004-00000008.parquet":
        "68bdd08630970c07b7907b7f58e8ad44fc99676db1172dc33af0035a7141c231",
    "reacher/data/episodes/episodes-00000008-00000012.parquet":
        "77c628c0e1155c9e809355da0d253daca5098cb1d4a36b3bf7b3c39e7fd62008",
    "reacher/data/steps/episodes-00000000-00000004.parquet":
        "b0774652d466b402165711eb9ef3e06b6000372567726ac3cd049e5ca227018a",
    "reacher/data/steps/episodes-00000004-00000008.parquet":
        "583776bb4cb690494c301edf9abff0a7d8abb31fe4537c576122b48252d771d3",
    "reacher/data/steps/episodes-00000008-00000012.parquet":
        "a0c83556f023d33aa65950e1e9ff88e6494312db19db6b492c40e42bedb0dc37",
    "spot/data/episodes/episodes-00000000-00000002.parquet":
        "07975351c95c1a5ba263f4600c17f284c30a35adfd204bba67ea7e5cf8f1aa39",
    "spot/data/episodes/episodes-00000002-00000003.parquet":
        "2e79e669ae447092a54ad0404083531659f323a42e4625712bc81aa2cc72309b",
    "spot/data/steps/episodes-00000000-00000002.parquet":
        "c53f06bf495c14de1b1c2045a29a2fabfdbc3c1b2f4742dfd2057c23e1fb4b73",
    "spot/data/steps/episodes-00000002-00000003.parquet":
        "0fe8557e38857eeb3e196719a8436a175138091e5b7fcc97202c72aa4e2b8df9",
}


@pytest.mark.slow
def test_generated_and_encoded_shards_match_recorded_sha256(tmp_path):
    reacher, spot = tmp_path / "reacher", tmp_path / "spot"
    wmhub.generate("reacher", reacher, 12, options={"episode_length": 30, "policy": "p-controller", "epsilon": 0.3,
                                                     "seed": 7}, episodes_per_shard=4, workers=2, show_progress=False)
    wmhub.encode(reacher, "random:16", show_progress=False)
    wmhub.encode(reacher, "state", show_progress=False)
    wmhub.generate("spot", spot, 3, options={"episode_length": 25, "seed": 3, "epsilon": 0.2}, episodes_per_shard=2,
                   show_progress=False)
    found = {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(tmp_path.rglob("*.parquet"))}
    assert found == RECORDED

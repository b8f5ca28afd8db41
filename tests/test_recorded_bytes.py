"""Dataset bytes are part of the contract: shards generated and encoded by this version must be
byte-identical to those recorded here.

A change that alters these bytes must say so and why (README, "Design notes"), and re-record them.
Two such changes are recorded below, both deliberate:

* dataset format 2 (docs/format.md, "Format versions"): the `steps` shards store the last row's
  action, reward and is_random_action zero-filled instead of null. Format 1 is still written byte
  for byte (``format_version=1``; a format-1 dataset grows, resumes and is reproduced in it), and
  both are checked; the reacher format-1 hashes are those recorded before the package was
  restructured (toolkit 0.1.0, commit ddbfab5).
* Spot's stored reward became MuJoCo Playground's full joystick reward (14 terms and the fall
  penalty) with a `reward_terms` column, so the Spot shards were re-recorded in both formats.
"""

from __future__ import annotations

import hashlib

import pytest

import wmhub

# dataset format 1
RECORDED_V1 = {
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
        "20dd910cefb9de362fbeacfde4cabb687832d868a3682ccf7399b0fcc0408113",
    "spot/data/episodes/episodes-00000002-00000003.parquet":
        "418a88cf50eb423662bcb487e4aeab5f6703be5dfecb329dcafbf3033b623f0c",
    "spot/data/steps/episodes-00000000-00000002.parquet":
        "535520331da17ca52f3f8151de33343d8ec2617bdd13d20cd0e587c86cae61ab",
    "spot/data/steps/episodes-00000002-00000003.parquet":
        "f3b2ea39aaba6a062cc68c6dbdacc4e62b0ca4d783e9f28e1ca1dfdf23a65687",
}

# dataset format 2: the same calls; only the steps shards differ
RECORDED_V2 = {
    **RECORDED_V1,
    "reacher/data/steps/episodes-00000000-00000004.parquet":
        "b8a73052e0304f77368bbc476b058297821971e6579604d8abd9c9a3b301be37",
    "reacher/data/steps/episodes-00000004-00000008.parquet":
        "59a24eab46fd53a32f7c35f65c71144f4d41ce96e637fb5ba0acd52aa436f0a6",
    "reacher/data/steps/episodes-00000008-00000012.parquet":
        "e8fd36ce0c64a0cdeaf24f95a556eafe93f4270e583d49a0d1f05c6f1ab1fe99",
    "spot/data/steps/episodes-00000000-00000002.parquet":
        "5dccc096424d17b0265b490fce3444233f06fef0c3cd02eb30847707528c791c",
    "spot/data/steps/episodes-00000002-00000003.parquet":
        "2185dbf9fae8456c2ec7a2cc73321f40c3c56a9132247fcd4fbd41138f719237",
}


def _generate_all(root, format_version, encode):
    reacher, spot = root / "reacher", root / "spot"
    wmhub.generate("reacher", reacher, 12, options={"episode_length": 30, "policy": "p-controller", "epsilon": 0.3,
                                                     "seed": 7}, episodes_per_shard=4, workers=2, show_progress=False,
                   format_version=format_version)
    if encode:
        wmhub.encode(reacher, "random:16", show_progress=False)
        wmhub.encode(reacher, "state", show_progress=False)
    wmhub.generate("spot", spot, 3, options={"episode_length": 25, "seed": 3, "epsilon": 0.2}, episodes_per_shard=2,
                   show_progress=False, format_version=format_version)
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


@pytest.mark.slow
def test_generated_and_encoded_shards_match_recorded_sha256(tmp_path):
    """The default format (2), generation and both encoders."""
    assert _generate_all(tmp_path, None, encode=True) == RECORDED_V2


@pytest.mark.slow
def test_format_1_is_still_written_byte_for_byte(tmp_path):
    """Format 1. The encoders do not read the cells the formats differ in, so generation alone is checked."""
    found = _generate_all(tmp_path, 1, encode=False)
    assert found == {path: sha for path, sha in RECORDED_V1.items() if "/embeddings-" not in path}

"""Success rates of the reacher policies, with and without ε-greedy noise.

    python benchmarks/policy_success.py --episodes 200

Success = finger inside the target at the last of 200 steps; "reached" = at
some step. Standard errors are binomial.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from wmhub.data import open_dataset  # noqa: E402
from wmhub.generation import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print("| policy | ε | episodes | success (last step) | reached (any step) | mean return |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("p-controller", "jacobian", "random"):
            for epsilon in (0.0, 0.3):
                if policy == "random" and epsilon:
                    continue
                out = Path(tmp) / f"{policy}-{epsilon}"
                generate("reacher", out, args.episodes, options={"policy": policy, "epsilon": epsilon, "seed": 0},
                         episodes_per_shard=max(1, args.episodes // args.workers), workers=args.workers,
                         show_progress=False)
                table = open_dataset(out).table("episodes")
                success = table.column("success").to_numpy(zero_copy_only=False).astype(float)
                reached = table.column("ever_reached").to_numpy(zero_copy_only=False).astype(float)
                returns = table.column("return").to_numpy()
                n = len(success)

                def fmt(x, n=n):
                    return f"{x.mean():.1%} ± {np.sqrt(x.mean() * (1 - x.mean()) / n):.1%}"

                print(f"| {policy} | {epsilon} | {n} | {fmt(success)} | {fmt(reached)} | {returns.mean():.1f} |")


if __name__ == "__main__":
    main()

"""How far dynamics models drift from the real simulator along a policy's own path, against held-out data.

    python benchmarks/imagination_drift.py --actor runs/reacher_dreamer_ensemble_1m_state \\
        --dynamics runs/reacher_ensemble_1m_state runs/reacher_dynamics_mlp_1m_state \\
        --data data/reacher-1m --episodes 8 9 --horizons 1 5 15

A policy learned in imagination only sees its world model; where the model is wrong along the states the
policy itself visits, the policy learns the model's mistake ("model exploitation"). This benchmark runs the
actor's deterministic action in the real reacher-easy simulator for the chosen resets of ``make_env(seed)``
(the ``reacher-easy-return`` suite's episodes, counted from 0), then replays the real actions open-loop
through each dynamics model (an ensemble's members each on their own trajectory, their mean compared) from
every real state, and reports after ``h`` steps:

* the mean absolute error per latent dimension in the model's normalised units;
* the finger-to-target distance bias, mean of (predicted − real) ‖to_target‖ in metres: negative means
  the model believes the finger nearer the target than it is, which a reward that reads to_target pays for.

The same figures on the last ``--data-episodes`` episodes of the dataset (actions of the data's policy)
say how large the error is where the model was trained.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from wmhub.data import open_dataset  # noqa: E402
from wmhub.envs.registry import get_env  # noqa: E402
from wmhub.eval.planners import load_policy  # noqa: E402
from wmhub.models.dynamics import DynamicsModel  # noqa: E402
from wmhub.models.ensemble import Ensemble  # noqa: E402
from wmhub.models.registry import load_named_model  # noqa: E402

STATE = ("position", "to_target", "velocity")
TO_TARGET = slice(2, 4)


@dataclass
class Drift:
    """Open-loop error of one model after ``horizon`` steps on one set of trajectories."""

    model: str
    where: str
    horizon: int
    windows: int
    abs_error_per_dim: list[float]   # normalised units
    distance_bias_m: float           # mean (predicted − real) ‖to_target‖
    abs_distance_error_m: float


def policy_paths(actor: str, resets: list[int], steps: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(latents ``[T+1, 6]``, actions ``[T, 2]``) of the actor in the simulator for each chosen reset."""
    adapter = get_env("reacher").planning
    policy = load_policy(actor).eval()
    env = adapter.make_env(seed)
    paths = []
    for index in range(max(resets) + 1):
        timestep = env.reset()
        if index not in resets:
            continue
        z = adapter.observation_latent(timestep.observation)
        zs, actions = [z], []
        for _ in range(steps):
            with torch.no_grad():
                action = policy(torch.as_tensor(z, dtype=torch.float32)).numpy()
            timestep = env.step(action)
            z = adapter.observation_latent(timestep.observation)
            zs.append(z)
            actions.append(action)
        paths.append((np.asarray(zs, np.float32), np.asarray(actions, np.float32)))
    return paths


def data_paths(data: str, episodes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The last ``episodes`` episodes of a reacher dataset's ``steps`` config (the data's own actions)."""
    table = open_dataset(data).table("steps")
    index = np.asarray(table.column("episode_index").to_numpy())
    keep = np.flatnonzero(index >= np.unique(index)[-episodes])
    table = table.take(keep)
    z = np.concatenate([np.asarray(table.column(c).to_pylist(), np.float32).reshape(len(table), -1)
                        for c in STATE], axis=1)
    a = np.asarray(table.column("action").to_pylist(), np.float32)
    paths = []
    for episode in np.unique(index[keep]):
        rows = np.flatnonzero(index[keep] == episode)
        paths.append((z[rows], a[rows[:-1]]))  # the last row is the final observation
    return paths


@torch.no_grad()
def drift(model: DynamicsModel, paths: list[tuple[np.ndarray, np.ndarray]], horizon: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """Normalised errors ``[N, D]`` and predicted / real distances ``[N]`` after ``horizon`` open-loop steps
    from every state of every path."""
    errors, predicted, real = [], [], []
    for zs, actions in paths:
        n = len(actions) - horizon + 1
        if n < 1:
            continue
        z0 = torch.as_tensor(zs[:n])
        zn = model.normalize(z0)
        if isinstance(model, Ensemble):
            zn = zn.expand(len(model.members), *zn.shape)
        for h in range(horizon):
            zn = model.step_normalized(zn, torch.as_tensor(actions[h:h + n]))
        zp = model.denormalize(zn)
        zp = zp.mean(0) if isinstance(model, Ensemble) else zp
        truth = torch.as_tensor(zs[horizon:horizon + n])
        errors.append((model.normalize(zp) - model.normalize(truth)).abs().numpy())
        predicted.append(zp[:, TO_TARGET].norm(dim=-1).numpy())
        real.append(truth[:, TO_TARGET].norm(dim=-1).numpy())
    return np.concatenate(errors), np.concatenate(predicted), np.concatenate(real)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actor", required=True, help="actor_critic run whose path is followed")
    parser.add_argument("--dynamics", nargs="+", required=True, help="dynamics or ensemble runs to compare")
    parser.add_argument("--data", required=True, help="the reacher dataset the models were trained on")
    parser.add_argument("--episodes", type=int, nargs="+", default=list(range(10)),
                        help="resets of the return suite to follow (0-based)")
    parser.add_argument("--steps", type=int, default=300, help="simulator steps per episode")
    parser.add_argument("--data-episodes", type=int, default=50)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 5, 15])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sets = {f"policy path (episodes {args.episodes})": policy_paths(args.actor, args.episodes, args.steps,
                                                                    args.seed),
            f"held-out data ({args.data_episodes} episodes)": data_paths(args.data, args.data_episodes)}
    rows = []
    for source in args.dynamics:
        model = load_named_model(source, DynamicsModel, "--dynamics", "train it first").eval()
        for where, paths in sets.items():
            for h in args.horizons:
                errors, predicted, real = drift(model, paths, h)
                rows.append(Drift(source, where, h, len(errors), [round(float(x), 4) for x in errors.mean(0)],
                                  float((predicted - real).mean()), float(np.abs(predicted - real).mean())))
    print("| model | where | horizon | windows | abs error per dim (normalised) | distance bias (m) | "
          "abs distance error (m) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.model} | {r.where} | {r.horizon} | {r.windows} | {r.abs_error_per_dim} | "
              f"{r.distance_bias_m:+.4f} | {r.abs_distance_error_m:.4f} |")
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

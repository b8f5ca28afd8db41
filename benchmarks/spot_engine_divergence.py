"""Benchmark: how far one Spot control step depends on the solver, MuJoCo C against MJX.

MuJoCo Playground steps ``SpotFlatTerrainJoystick`` with MJX/Warp and a single Newton solver
iteration (``iterations="1" ls_iterations="5"`` in ``spot_mjx_feetonly.xml``); wmhub steps the
same model, with the same options, in MuJoCo C. One iteration leaves the contact solve
unconverged, so engines that start from the same state take different steps. This script
measures, from the same states (taken from trot rollouts with ε = 0.3 random actions, so
contacts are varied), the largest ``|Δqvel|`` after one control step (5 physics steps of 0.004 s),
summarised over the states as max / 90th percentile / median:

* ``c_1iter_vs_converged``: MuJoCo C with Playground's solver settings (wmhub's) against MuJoCo C
  with a converged solve (``iterations`` 100, ``ls_iterations`` 50, MuJoCo's defaults) — how
  much of the step is decided by the unconverged solver;
* ``c_cold_vs_warm_start``: MuJoCo C, Playground's settings, with the solver's warm start
  (``qacc_warmstart``, the previous step's accelerations) set to zero against the stored one —
  how much the one-iteration step depends on where the solver starts;
* ``mjx_vs_c`` (only where ``mujoco.mjx`` and JAX are installed; wmhub does not need them): MJX
  (``impl="jax"``, float32 unless JAX_ENABLE_X64 is set, as Playground runs) against MuJoCo C,
  same model and settings;
* ``warp_vs_c`` (only where ``mujoco_warp`` and ``warp`` are installed): MuJoCo Warp, Playground's
  default ``impl="warp"`` (float32; on the GPU when there is one, else Warp's CPU device) against
  MuJoCo C, same model and settings.

Observations computed by wmhub and by Playground from the *same* physics state are identical;
this measures only the physics engines.

    MENAGERIE_ROOT=../shared/menagerie python benchmarks/spot_engine_divergence.py
    MENAGERIE_ROOT=../shared/menagerie python benchmarks/spot_engine_divergence.py --states 64 --json out.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform

import numpy as np

from wmhub.envs.spot import SpotConfig, SpotRunner
from wmhub.envs.spot_env import SpotBatch
from wmhub.envs.spot_model import N_SUBSTEPS, build_spot_model

CONVERGED = {"iterations": 100, "ls_iterations": 50}  # MuJoCo's defaults


def summary(qvel: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Max |Δqvel| per state, summarised over the states: max, 90th percentile, median."""
    per_state = np.abs(qvel - reference).max(axis=1)
    return {"max": float(per_state.max()), "p90": float(np.percentile(per_state, 90)),
            "median": float(np.median(per_state))}


def sample_states(count: int, seed: int) -> tuple[list, np.ndarray]:
    """``count`` MjData snapshots from trot rollouts (ε = 0.3) and the next joint targets for each."""
    model, info = build_spot_model()
    runner = SpotRunner(SpotConfig(episode_length=200, policy="trot", epsilon=0.3, seed=seed, obs_noise=False))
    episodes = runner.run_episodes(list(range(max(1, count // 20))))
    rng = np.random.default_rng(seed)
    picks = []
    for ep in episodes:
        length = ep.episode["length"]
        picks += [(ep, int(t)) for t in rng.choice(np.arange(5, length), size=min(20, length - 5), replace=False)]
    picks = picks[:count]
    import mujoco

    batch = SpotBatch(model, info, 1, obs_noise=False)
    datas, targets = [], []
    data = mujoco.MjData(model)  # scratch state, reset for every pick
    for ep, t in picks:  # replay to step t so the solver warm start is the generator's too
        mujoco.mj_resetData(model, data)
        data.qpos[:] = info.home_qpos
        mujoco.mj_forward(model, data)
        for action in ep.steps["action"][:t]:
            data.ctrl[:] = batch.targets(action.astype(np.float64)[None])[0]
            mujoco.mj_step(model, data, N_SUBSTEPS)
        np.testing.assert_array_equal(data.qpos, ep.steps["qpos"][t])
        datas.append(copy.copy(data))
        targets.append(batch.targets(ep.steps["action"][t].astype(np.float64)[None])[0])
    return datas, np.array(targets)


def c_step(model, data, ctrl: np.ndarray, cold: bool = False) -> np.ndarray:
    import mujoco

    d = copy.copy(data)
    d.ctrl[:] = ctrl
    if cold:
        d.qacc_warmstart[:] = 0.0
    mujoco.mj_step(model, d, N_SUBSTEPS)
    return d.qvel.copy()


def mjx_steps(model, datas: list, targets: np.ndarray) -> np.ndarray | None:
    """qvel after one control step in MJX (JAX implementation), or None without MJX/JAX."""
    try:
        import jax
        from mujoco import mjx
    except ImportError:
        return None
    mx = mjx.put_model(model, impl="jax")

    @jax.jit
    def control_step(d):
        for _ in range(N_SUBSTEPS):
            d = mjx.step(mx, d)
        return d

    out = []
    for data, ctrl in zip(datas, targets):
        d = copy.copy(data)
        d.ctrl[:] = ctrl
        out.append(np.asarray(control_step(mjx.put_data(model, d, impl="jax")).qvel, np.float64))
    return np.stack(out)


def warp_steps(model, datas: list, targets: np.ndarray) -> tuple[np.ndarray, str] | None:
    """qvel after one control step in MuJoCo Warp and the Warp device, or None without it."""
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError:
        return None
    wp.config.quiet = True
    device = "cuda" if wp.is_cuda_available() else "cpu"
    wp.set_device(device)
    mw = mjw.put_model(model)
    mw.opt.warn_overflow = 0  # one solver iteration is the setting under test, not an overflow
    out = []
    for data, ctrl in zip(datas, targets):
        d = copy.copy(data)
        d.ctrl[:] = ctrl
        wd = mjw.put_data(model, d)
        for _ in range(N_SUBSTEPS):
            mjw.step(mw, wd)
        out.append(wd.qvel.numpy()[0].astype(np.float64))
    return np.stack(out), device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=100, help="states to step from (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    import mujoco

    model, _ = build_spot_model()
    converged = copy.copy(model)
    for name, value in CONVERGED.items():
        setattr(converged.opt, name, value)
    datas, targets = sample_states(args.states, args.seed)
    qvel_c = np.stack([c_step(model, d, u) for d, u in zip(datas, targets)])
    qvel_conv = np.stack([c_step(converged, d, u) for d, u in zip(datas, targets)])
    qvel_again = np.stack([c_step(model, d, u) for d, u in zip(datas, targets)])
    qvel_cold = np.stack([c_step(model, d, u, cold=True) for d, u in zip(datas, targets)])
    result = {
        "states": len(datas),
        "solver": {"iterations": int(model.opt.iterations), "ls_iterations": int(model.opt.ls_iterations)},
        "c_repeat": summary(qvel_again, qvel_c),  # MuJoCo C is deterministic: 0
        "c_1iter_vs_converged": summary(qvel_conv, qvel_c),
        "c_cold_vs_warm_start": summary(qvel_cold, qvel_c),
        "mujoco": mujoco.__version__, "python": platform.python_version(), "machine": platform.machine(),
    }
    qvel_mjx = mjx_steps(model, datas, targets)
    if qvel_mjx is not None:
        import jax

        result["mjx_vs_c"] = summary(qvel_mjx, qvel_c)
        result["mjx_x64"] = bool(jax.config.jax_enable_x64)
        result["jax"] = jax.__version__
    warp = warp_steps(model, datas, targets)
    if warp is not None:
        from importlib.metadata import version

        qvel_warp, device = warp
        result["warp_vs_c"] = summary(qvel_warp, qvel_c)
        result["warp_device"] = device
        result["mujoco_warp"] = version("mujoco-warp")
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()

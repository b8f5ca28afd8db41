"""Planning suites in the real simulator (dm_control ``reacher-easy``) with a learned latent model.

Three suites, each a function returning a plain JSON-able dict (episode
count, means, standard errors, wall time per planned action, its ratio to a
FLOP bound measured on the same device, the mean |action| taken, and the planner's settings):

* :func:`run_goal_success` — the LeWorldModel / DINO-WM goal-reaching
  protocol on held-out episodes;
* :func:`run_reacher_return` — the standard 1000-step reacher-easy return;
* :func:`run_seed_protocol` — the seeds' 100-step goal-reaching protocol.

The planner sees the simulator only through the *state latent* of the
current observation, computed exactly like the dataset's ``steps`` latent:
``concat(position, to_target, velocity)`` of the dm_control observation
(joint angles as unwrapped ``qpos``, target − finger in metres, joint
velocities). ``goal-success`` also plans with an end-to-end
:class:`~wmhub.models.jepa.JEPAWorldModel`: live and goal states are rendered
(the dataset's ``frames-<S>`` renderer, camera 0) and encoded, and CEM runs in
its embedding space with the real history of the last k embeddings. Frozen
image-encoder latents (V-JEPA 2) are not supported for live planning. Standard
errors are ``std(ddof=1) / sqrt(n)`` (for success rates that is the binomial
s.e. up to the factor ``sqrt(n / (n − 1))``); they are ``None`` when fewer than
two episodes ran.

With ``planner: {kind: policy}`` a suite runs a learned actor (an ``actor_critic`` run) instead of a
sampling planner: its deterministic action, one forward pass per action (``reacher-easy-return`` and
``seed-protocol``; a policy is not goal-conditioned, so not ``goal-success``).

The simulator's side (the state latent, putting the physics in a recorded
state, the joint-angle success check, the reach radius) is the reacher
environment's planning adapter, :class:`wmhub.envs.reacher.ReacherPlanning`.

With a ``video_dir``, each suite films its first ``videos`` episodes (:mod:`wmhub.render.planning_video`)
and, on the state latent, plots predicted vs real fingertip paths of some of their plans
(:mod:`wmhub.eval.fingertip_paths`; ``fingertip_paths`` in the result).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch

from wmhub.devices import resolve_device
from wmhub.envs.registry import PlanningAdapter, get_env
from wmhub.errors import WmhubError
from wmhub.eval.fingertip_paths import FingertipPaths
from wmhub.eval.planners import (
    POLICY_MODELS,
    CEMConfig,
    CostFn,
    Planner,
    PlannerConfig,
    PolicyConfig,
    PolicyRollout,
    Rollout,
    RolloutModel,
    as_rollout_model,
    load_policy,
    make_planner,
    measure_matmul_flops,
    planning_flops_per_action,
)
from wmhub.eval.stats import mean_se
from wmhub.models.actor_critic import ActorCritic
from wmhub.models.dynamics import DynamicsModel
from wmhub.models.jepa import PIXEL_ENCODERS, JEPAWorldModel
from wmhub.models.reward import RewardModel
from wmhub.progress import Progress
from wmhub.render.planning_video import PlanningVideos

# the simulator's side (state latent, recorded states, success check): the reacher environment's adapter
REACHER = cast(PlanningAdapter, get_env("reacher").planning)
STATE_FEATURES = REACHER.state_features
STATE_COLUMNS = REACHER.state_columns
SUITES = ("goal-success", "reacher-easy-return", "seed-protocol")
GOAL_FEATURES = REACHER.goal_features  # goal-success compares configurations (see run_goal_success)
TO_TARGET = REACHER.to_target  # columns of to_target in the state latent


# --------------------------------------------------------------------------- small helpers
def require_state_latent(model: Any) -> None:
    """Raise a clear :class:`WmhubError` unless ``model`` works on the reacher state latent."""
    latent = dict(getattr(model, "latent", {}) or {})
    encoder = latent.get("encoder") or "state"
    encoder = encoder.get("encoder", "state") if isinstance(encoder, dict) else encoder
    if tuple(latent.get("features") or ()) != STATE_FEATURES or encoder != "state":
        raise WmhubError(f"planning suites need the state latent; this model's latent is {latent or 'unspecified'} "
                         f"(live planning reads features {list(STATE_FEATURES)} from the simulator); use a model "
                         "trained on the steps config's state latent, e.g. recipe reacher_dynamics_mlp_1m_state")


def _reject_world_model(dynamics: Any) -> None:
    """Raise for an end-to-end world model in a suite whose cost needs the simulator's state latent."""
    if isinstance(dynamics, JEPAWorldModel):
        raise WmhubError("an end-to-end JEPAWorldModel plans in the goal-success suite only (its cost is a goal "
                         "embedding); remove this suite from the recipe's eval section")


# --------------------------------------------------------------------------- cost functions
def state_dims(features: Sequence[str] | None) -> list[int]:
    """Indices of ``features`` in the 6-d state latent (all six for ``None``)."""
    names = list(features) if features is not None else list(STATE_FEATURES)
    unknown = [n for n in names if n not in STATE_FEATURES]
    if unknown or not names:
        raise WmhubError(f"cost features {names} must be a non-empty subset of {list(STATE_FEATURES)}")
    return [2 * STATE_FEATURES.index(n) + k for n in STATE_FEATURES if n in names for k in range(2)]


def goal_latent_cost(goal: torch.Tensor, normalize: Callable[[torch.Tensor], torch.Tensor],
                     steps: Literal["all", "final"] = "all", dims: Sequence[int] | None = None) -> CostFn:
    """L2 distance to ``goal`` in the model's normalised latent units.

    ``steps="all"`` averages the distance over the horizon (reach the goal
    early and stay); ``"final"`` scores only the last predicted latent (the
    DINO-WM objective). ``dims`` restricts the distance to some latent
    dimensions (all by default).
    """
    index = None if dims is None else torch.as_tensor(list(dims), dtype=torch.long, device=goal.device)
    goal_n = normalize(goal)

    def cost(rollout: Rollout) -> torch.Tensor:
        diff = normalize(rollout.latents) - goal_n
        dist = torch.linalg.vector_norm(diff if index is None else diff[..., index], dim=-1)  # [N, H]
        return dist[:, -1] if steps == "final" else dist.mean(-1)

    return cost


def to_target_cost(rollout: Rollout) -> torch.Tensor:
    """Smooth surrogate of reacher's reward from the predicted state: mean_h ‖to_target_h‖ (metres).

    The true reward is 1 when ‖to_target‖ ≤ target radius + finger radius and
    0 otherwise; minimising the distance itself gives the planner a gradient
    everywhere and keeps the finger near the target's centre.
    """
    return torch.linalg.vector_norm(rollout.latents[..., TO_TARGET], dim=-1).mean(-1)


def reward_model_cost(reward_model: RewardModel) -> CostFn:
    """−Σ_h R(z_h, a_h): the reward model scores each action from the latent it is applied in."""

    def cost(rollout: Rollout) -> torch.Tensor:
        n = rollout.latents.shape[0]
        before = torch.cat([rollout.start.expand(n, 1, -1), rollout.latents[:, :-1]], dim=1)
        return -reward_model(before, rollout.actions).sum(-1)

    return cost


def reward_value_cost(reward_model: RewardModel, value_model: ActorCritic, gamma: float) -> CostFn:
    """−Σ_h γ^h R(z_h, a_h) − γ^H V(z_H): learned reward over the horizon plus a learned terminal value.

    TD-MPC2's planning objective (Hansen et al. 2024) with the critic of a policy trained in imagination
    (``value_model``, an ``actor_critic`` run; V = the minimum of its two heads). The value carries the
    reward beyond the horizon, so the cost has a slope where the reward model is flat (far from the target).

    Args:
        reward_model: R(z, a), scored from the latent each action is applied in.
        value_model: the actor-critic whose critic gives V(z_H) of the last predicted latent.
        gamma: the discount (the suite's ``gamma`` option, 0.99 by default: the imagination recipes' own).

    Returns:
        A cost function for the planners.

    Example:
        >>> cost_fn = reward_value_cost(reward_model, agent, 0.99)  # doctest: +SKIP
    """

    def cost(rollout: Rollout) -> torch.Tensor:
        n, horizon = rollout.latents.shape[:2]
        before = torch.cat([rollout.start.expand(n, 1, -1), rollout.latents[:, :-1]], dim=1)
        discount = gamma ** torch.arange(horizon, device=rollout.latents.device, dtype=torch.float32)
        rewards = (reward_model(before, rollout.actions) * discount).sum(-1)
        return -(rewards + gamma ** horizon * value_model.value(rollout.latents[:, -1]))

    return cost


# --------------------------------------------------------------------------- data and timing
def _load_episodes(dataset_root: str | Path, episodes: Sequence[int]) -> dict[int, dict[str, np.ndarray]]:
    """The state columns, latents, actions and rewards of some episodes (rows in step order)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from wmhub.data.reader import open_dataset
    from wmhub.data.schema import column_numpy

    ds = open_dataset(dataset_root)
    features = {f.name: f for f in ds.features()}
    names = [*STATE_FEATURES, *STATE_COLUMNS, "action", "reward", "episode_index", "step_index"]
    missing = [n for n in names if n not in features]
    if missing:
        raise WmhubError(f"{dataset_root} has no column(s) {missing}; planning suites need a reacher dataset")
    table = ds.table(columns=names)
    table = table.filter(pc.is_in(table.column("episode_index"), value_set=pa.array(list(episodes), pa.int64())))
    arrays = {n: column_numpy(table, features[n]) for n in names}
    out: dict[int, dict[str, np.ndarray]] = {}
    for ep in episodes:
        rows = np.flatnonzero(arrays["episode_index"] == ep)
        if rows.size == 0:
            raise WmhubError(f"episode {ep} is not in {dataset_root}; does split.json belong to this dataset?")
        rows = rows[np.argsort(arrays["step_index"][rows])]
        data = {n: arrays[n][rows] for n in names}
        data["latent"] = np.concatenate([data[k] for k in STATE_FEATURES], axis=1).astype(np.float32)
        out[int(ep)] = data
    return out


_MATMUL_FLOPS: dict[str, float] = {}


def device_matmul_flops(device: torch.device) -> float:
    """Measured float32 matmul FLOP/s of ``device`` (once per process, device and CPU thread count)."""
    key = f"{device}/{torch.get_num_threads()}"
    if key not in _MATMUL_FLOPS:
        _MATMUL_FLOPS[key] = measure_matmul_flops(device)
    return _MATMUL_FLOPS[key]


def _timing(planner: Planner, model: RolloutModel, extra_flops_per_step: int = 0,
            actions_per_plan: int | None = None) -> dict[str, Any]:
    """Wall time per environment action and its ratio to the device's FLOP bound.

    A plan of a model with ``frame_skip`` k runs ``actions_per_plan`` (default k) environment actions,
    so per-action figures are per plan ÷ that (``wall_time_per_plan_s`` keeps one planning call's time).
    """
    n = frame_skip_of(model) if actions_per_plan is None else actions_per_plan  # environment actions per plan
    times = np.asarray(planner.wall_times, np.float64)
    per_plan = float(times.mean()) if times.size else None
    per_action = per_plan / n if per_plan is not None else None
    flops_step = model.flops_per_step()
    out: dict[str, Any] = {"actions_planned": int(times.size) * n, "wall_time_per_action_s": per_action,
                           "wall_time_per_action_median_s": float(np.median(times)) / n if times.size else None,
                           "device": str(model.device), "torch_threads": torch.get_num_threads(),
                           "model_flops_per_action": None,
                           "mean_abs_action": float(np.mean(planner.mean_abs_actions))
                           if planner.mean_abs_actions else None,
                           "matmul_flops_per_s": None, "flop_bound_time_per_action_s": None,
                           "time_to_flop_bound_ratio": None}
    if frame_skip_of(model) > 1:
        out.update(frame_skip=frame_skip_of(model), plans=int(times.size), wall_time_per_plan_s=per_plan)
    if flops_step is not None:
        flops = round(planning_flops_per_action(planner.config, flops_step + extra_flops_per_step) / n)
        throughput = device_matmul_flops(model.device)
        bound = flops / throughput
        out.update(model_flops_per_action=flops, matmul_flops_per_s=throughput, flop_bound_time_per_action_s=bound,
                   time_to_flop_bound_ratio=per_action / bound if per_action is not None else None)
    return out


def frame_skip_of(model: RolloutModel) -> int:
    """Environment steps per model step of a rollout model (1 unless it plans over action blocks)."""
    return int(getattr(model, "frame_skip", 1))


def env_steps(env, action: np.ndarray, frame_skip: int, limit: int) -> Iterator[tuple[np.ndarray, Any]]:
    """Step ``env`` with the environment actions of one planned (block) action, at most ``limit`` of them,
    yielding (environment action, timestep) for each (a block ``[k·A]`` holds k actions in time order)."""
    for a in np.asarray(action).reshape(frame_skip, -1)[:limit]:
        yield a, env.step(a)


def _prepare(dynamics: DynamicsModel | RolloutModel, planner: PlannerConfig, seed: int,
             device: torch.device | str | None, prior: ActorCritic | None = None) -> tuple[RolloutModel, Planner]:
    """The rollout model on its device (``None`` → CUDA when present) and a seeded planner; a CEM with
    ``policy_samples`` gets its proposing actor from ``planner.actor``, else ``prior`` (the suite's value model)."""
    if isinstance(dynamics, (DynamicsModel, JEPAWorldModel, *POLICY_MODELS)):
        device = resolve_device("auto") if device is None else torch.device(device)
    if isinstance(planner, PolicyConfig):  # an actor instead of a planner: one forward pass per action
        actor = load_policy(planner.actor) if planner.actor is not None else dynamics
        if not isinstance(actor, POLICY_MODELS):
            raise WmhubError(f"planner kind policy runs an actor-critic (or a BC policy), and this suite was given a "
                             f"{type(actor).__name__}; evaluate an actor_critic run, or name one in planner.actor")
        model = PolicyRollout(actor, device)
        require_state_latent(model)
        return model, make_planner(planner, model.action_dim, seed=seed, device=model.device, policy=actor)
    if isinstance(dynamics, POLICY_MODELS):
        raise WmhubError(f"an actor-critic acts with planner {{kind: policy}}, not {planner.kind}; set the suite's "
                         "planner to {kind: policy} (a sampling planner needs a dynamics run)")
    if isinstance(dynamics, JEPAWorldModel):
        model = as_rollout_model(dynamics.predictor, device)
    else:
        model = as_rollout_model(dynamics, device)
        require_state_latent(model)
    if isinstance(planner, CEMConfig) and planner.policy_samples:
        prior = load_policy(planner.actor) if planner.actor is not None else prior
    return model, make_planner(planner, model.action_dim, seed=seed, device=model.device,
                               frame_skip=frame_skip_of(model), policy=prior)


class StateLatents:
    """Latents of live and recorded reacher states for a model on the state latent."""

    def __init__(self, cost_features: Sequence[str] | None) -> None:
        self.dims: list[int] | None = state_dims(cost_features)
        self.cost_features = [STATE_FEATURES[d // 2] for d in self.dims[::2]]

    def live(self, env) -> np.ndarray:
        return REACHER.live_latent(env)

    def recorded(self, rec: dict[str, np.ndarray], t: int) -> np.ndarray:
        return rec["latent"][t]

    def close(self) -> None:
        pass


class EmbeddedFrames:
    """Embeddings of rendered frames for an end-to-end :class:`JEPAWorldModel` on a ``frames-<S>`` config
    (or on the state vector, for an ``mlp`` encoder): live states are rendered (or read) and encoded."""

    def __init__(self, model: JEPAWorldModel, device: torch.device) -> None:
        self.model, self.device, self.dims, self.cost_features = model.to(device).eval(), device, None, ["embedding"]
        self.pixels = model.encoder_kind in PIXEL_ENCODERS
        if self.pixels:
            from wmhub.render.reacher_frames import ReacherFrameRenderer

            self.renderer = ReacherFrameRenderer(size=math.isqrt(model.latent_dim // 3))
        elif tuple(model.latent.get("features") or ()) != STATE_FEATURES:
            raise WmhubError(f"planning with an end-to-end model needs frames or the state latent; this model reads "
                             f"{model.latent.get('features')}")

    def _encode(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            x = torch.as_tensor(obs.reshape(1, -1), device=self.device)
            return self.model.encode(x)[0].float().cpu().numpy()

    def _frame(self, qpos, qvel, target) -> np.ndarray:
        return self.renderer.render(np.asarray(qpos)[None], np.asarray(qvel)[None], np.asarray(target)[None])[0]

    def live(self, env) -> np.ndarray:
        if not self.pixels:
            return self._encode(REACHER.live_latent(env))
        return self._encode(self._frame(*REACHER.physics_state(env)))

    def recorded(self, rec: dict[str, np.ndarray], t: int) -> np.ndarray:
        if not self.pixels:
            return self._encode(rec["latent"][t])
        return self._encode(self._frame(rec["qpos"][t], rec["qvel"][t], rec["target_pos"][t]))

    def close(self) -> None:
        if self.pixels:
            self.renderer.close()


def latent_source(dynamics: Any, model: RolloutModel, cost_features: Sequence[str] | None):
    """How a suite turns simulator states into the planner's latents (state latent, or encoded frames)."""
    if isinstance(dynamics, JEPAWorldModel):
        return EmbeddedFrames(dynamics, model.device)
    return StateLatents(cost_features)


def _header(suite: str, model: RolloutModel, planner: PlannerConfig, seed: int, episodes: int,
            owner: Any = None) -> dict[str, Any]:
    inner = owner if isinstance(owner, JEPAWorldModel) else getattr(model, "model", model)
    return {"suite": suite, "episodes": episodes, "seed": seed, "planner": planner.model_dump(),
            "model": {"class": type(inner).__name__, "num_parameters": getattr(inner, "num_parameters", None),
                      "latent": dict(model.latent)}}


START_ERROR_EDGES = (0.0, 0.3, 0.6, 1.2, math.inf)  # rad; far starts are where a goal cost loses its slope


def success_by_start_error(per_episode: Sequence[Mapping[str, Any]],
                           edges: Sequence[float] = START_ERROR_EDGES) -> list[dict[str, Any]]:
    """Successes per bin of the start's joint error (``start_joint_error_rad``, bins ``[lo, hi)``).

    Shows where planning fails: near goals test the model's precision, far ones
    whether the embedding distance still rises (the probe's distance profile).
    """
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = [e for e in per_episode if lo <= e["start_joint_error_rad"] < hi]
        out.append({"start_error_rad": [lo, None if math.isinf(hi) else hi], "episodes": len(inside),
                    "successes": sum(bool(e["success"]) for e in inside)})
    return out


def _goal_tensor(latent: np.ndarray, model: RolloutModel) -> torch.Tensor:
    return torch.as_tensor(latent, dtype=torch.float32, device=model.device)


def _latent_distance(model: RolloutModel, z: np.ndarray, goal: torch.Tensor) -> float:
    """Distance between a raw latent and the goal in the model's normalised units."""
    with torch.inference_mode():
        zt = torch.as_tensor(z, dtype=torch.float32, device=model.device)
        return float(torch.linalg.vector_norm(model.normalize(zt) - model.normalize(goal)))


# --------------------------------------------------------------------------- suites
def run_goal_success(dynamics: DynamicsModel | RolloutModel, dataset_root: str | Path, val_episodes: Sequence[int],
                     *, episodes: int = 50, planner: PlannerConfig = CEMConfig(), seed: int = 0,
                     device: torch.device | str | None = None, goal_offset: int = 25, budget: int = 50,
                     tolerance: float = 0.05, cost_steps: Literal["all", "final"] = "all",
                     cost_features: Sequence[str] | None = GOAL_FEATURES, replan_every: int | None = None,
                     videos: int = 3, video_dir: str | Path | None = None,
                     show_progress: bool = False) -> dict[str, Any]:
    """Goal reaching from held-out states (LeWorldModel / DINO-WM protocol).

    For each of ``episodes`` draws (seeded by ``seed``): a validation episode
    (cycling through a seeded permutation of ``val_episodes``) and a step ``t``
    uniform in ``[0, T − goal_offset]``; the simulator is put in the recorded
    state at ``t`` (joint positions, velocities, target position) and the goal
    is the recorded latent at ``t + goal_offset``. The planner then acts for
    ``budget`` environment steps, minimising :func:`goal_latent_cost` (normalised
    latent units; over the whole latent, or over ``cost_features`` only, e.g.
    ``["position"]``) under the learned dynamics. Success: after some action,
    both joint angles are within ``tolerance`` rad of the goal's, compared
    modulo 2π; ``final_success_rate`` asks it of the last state instead. Starts
    already within tolerance are counted in ``already_at_goal`` (they still
    need an action to count as a success). ``success_by_start_error`` counts
    the successes per bin of the start's joint error (:func:`success_by_start_error`).

    A model with ``frame_skip`` k plans action blocks; ``replan_every`` (1 … k,
    default k) is how many of a block's k actions run before the next plan
    (receding horizon inside a block; the model's history is kept per
    environment step, so every plan starts from the real latents k, 2k, …
    steps back). Success is checked after every environment step.

    The default cost compares ``position`` and ``to_target`` only: the goal
    is a *configuration*, which is what an image goal shows in LeWM / DINO-WM
    and what success is judged on. ``cost_features=None`` uses the whole state
    latent, velocities included; matching the goal's recorded velocity then
    competes with a small joint-angle error in normalised units (measured: 20%
    success vs 100% on 10 episodes with the 1M state MLP, BENCHMARKS.md).

    The first ``videos`` episodes are recorded as GIFs in ``video_dir`` (the run's ``eval/``):
    the simulator beside the goal configuration, the plan's predicted cost per step under them
    (:mod:`wmhub.render.planning_video`); ``videos`` lists their file names.
    """
    if goal_offset < 1 or budget < 1 or episodes < 1 or tolerance <= 0:
        raise WmhubError("goal_offset, budget and episodes must be >= 1 and tolerance > 0")
    if not val_episodes:
        raise WmhubError("no validation episodes given; pass the run's split.json val_episodes")
    if isinstance(planner, PolicyConfig):
        raise WmhubError("goal-success asks for a goal the policy is not given (a learned policy is not "
                         "goal-conditioned); run reacher-easy-return or seed-protocol with {kind: policy}")
    model, plan = _prepare(dynamics, planner, seed, device)
    fs = frame_skip_of(model)
    every = fs if replan_every is None else replan_every
    if not 1 <= every <= fs:
        raise WmhubError(f"goal-success replan_every={replan_every}: plans of this model hold {fs} environment "
                         f"actions, so replan_every must be between 1 and {fs} (default: {fs}, the whole block)")
    source = latent_source(dynamics, model, cost_features)
    observe = getattr(model, "observe", None)  # a world model's rollouts get the real history
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.asarray(sorted(val_episodes), np.int64))
    chosen = [int(order[k % len(order)]) for k in range(episodes)]
    data = _load_episodes(dataset_root, sorted(set(chosen)))
    env = REACHER.make_env(seed)
    per_episode = []
    progress = Progress(episodes * budget, "action", "episode", "goal-success", enabled=show_progress)
    recorder = PlanningVideos(video_dir, "goal-success", videos, show_progress=show_progress)
    fingertips = FingertipPaths(video_dir, "goal-success", videos, model, plan, dynamics, seed)
    try:
        for ep in chosen:
            rec = data[ep]
            last_t = len(rec["latent"]) - 1 - goal_offset
            if last_t < 0:
                raise WmhubError(f"episode {ep} has {len(rec['latent']) - 1} steps, fewer than "
                                 f"goal_offset={goal_offset}")
            t = int(rng.integers(0, last_t + 1))
            goal_q = rec["qpos"][t + goal_offset]
            goal = _goal_tensor(source.recorded(rec, t + goal_offset), model)
            REACHER.set_state(env, rec["qpos"][t], rec["qvel"][t], rec["target_pos"][t])
            z = source.live(env)
            if observe is not None:
                observe(z, None)
            start_err = REACHER.joint_error(env, goal_q)
            cost_fn = goal_latent_cost(goal, model.normalize, cost_steps, source.dims)
            plan.reset()
            recorder.start(len(per_episode), label=f"episode {ep} from step {t}", goal=(
                rec["qpos"][t + goal_offset], rec["qvel"][t + goal_offset], rec["target_pos"][t + goal_offset]))
            recorder.step(REACHER.physics_state(env), None)
            fingertips.start(len(per_episode), budget, f"episode {ep}")
            reached_at, err, k, executed = None, start_err, 0, None
            while k < budget:
                step = plan.plan(model, z, cost_fn, executed)
                fingertips.capture(k, env, z)
                todo = min(every, budget - k)
                for i, (action, _) in enumerate(env_steps(env, step.action, fs, todo)):
                    k += 1
                    recorder.step(REACHER.physics_state(env), step.cost)
                    err = REACHER.joint_error(env, goal_q)
                    if reached_at is None and bool(np.all(err <= tolerance)):
                        reached_at = k
                    if observe is not None or i == todo - 1:
                        z = source.live(env)
                    if observe is not None:
                        observe(z, action)
                    progress.update(1, 0, f"episode {len(per_episode) + 1}/{episodes}, "
                                          f"success {sum(e['success'] for e in per_episode)}")
                executed = todo
            per_episode.append({
                "episode_index": ep, "start_step": t, "success": reached_at is not None,
                "final_success": bool(np.all(err <= tolerance)), "steps_to_success": reached_at,
                "already_at_goal": bool(np.all(start_err <= tolerance)),
                "start_joint_error_rad": float(start_err.max()), "final_joint_error_rad": float(err.max()),
                "final_latent_distance": _latent_distance(model, z, goal)})
            recorder.finish(f"success at step {reached_at}" if reached_at is not None else "no success")
            progress.update(0, 1, f"episode {len(per_episode)}/{episodes}, "
                                  f"success {sum(e['success'] for e in per_episode)}")
    finally:  # the renderers are released whatever happens
        progress.close()
        recorder.close()
        source.close()
    reached = [e["steps_to_success"] for e in per_episode if e["success"]]
    return {
        **_header("goal-success", model, planner, seed, episodes, owner=dynamics),
        "goal_offset": goal_offset, "budget": budget, "tolerance_rad": tolerance, "cost_steps": cost_steps,
        "cost_features": source.cost_features, **({"replan_every": every} if fs > 1 else {}),
        "success_rate": mean_se(float(e["success"]) for e in per_episode),
        "final_success_rate": mean_se(float(e["final_success"]) for e in per_episode),
        "steps_to_success": mean_se(reached),
        "already_at_goal": sum(e["already_at_goal"] for e in per_episode),
        "final_joint_error_rad": mean_se(e["final_joint_error_rad"] for e in per_episode),
        "final_latent_distance": mean_se(e["final_latent_distance"] for e in per_episode),
        "success_by_start_error": success_by_start_error(per_episode),
        **_timing(plan, model, actions_per_plan=every), "videos": recorder.paths, **fingertips.result_fields(),
        "per_episode": per_episode}


def run_reacher_return(dynamics: DynamicsModel | RolloutModel, *, reward_model: RewardModel | None = None,
                       value_model: ActorCritic | None = None, gamma: float = 0.99,
                       episodes: int = 10, planner: PlannerConfig = CEMConfig(), seed: int = 0,
                       device: torch.device | str | None = None, episode_length: int = 1000,
                       videos: int = 3, video_dir: str | Path | None = None,
                       show_progress: bool = False) -> dict[str, Any]:
    """Return of the standard reacher-easy episode (1000 steps), planning with the learned dynamics.

    Episodes are the successive resets of ``make_env(seed)``. The planning
    cost is ``−Σ_h R(z_h, a_h)`` with ``reward_model``; with ``value_model`` too (an actor-critic run)
    ``−Σ_h γ^h R(z_h, a_h) − γ^H V(z_H)`` (:func:`reward_value_cost`, no hand-written term); or else the smooth
    state surrogate :func:`to_target_cost` (mean predicted ‖to_target‖; the
    true reward is 1 while ‖to_target‖ ≤ target + finger radius, read from
    the physics). The return is the sum of the environment's rewards (0 or 1
    per step, so at most ``episode_length``). Anchors at 1000 steps:
    TD-MPC2 ≈ 983, DreamerV3 ≈ 915–957, a random policy ≈ 0–150.
    ``steps_to_reach`` is the first step at which the finger is inside. The first ``videos``
    episodes are recorded as GIFs in ``video_dir`` (the simulator, whose picture shows the target,
    and the plan's predicted cost per step; :mod:`wmhub.render.planning_video`).
    """
    if episodes < 1 or episode_length < 1:
        raise WmhubError("episodes and episode_length must be >= 1")
    _reject_world_model(dynamics)
    if isinstance(planner, PolicyConfig) and (reward_model is not None or value_model is not None):
        raise WmhubError("reacher-easy-return: a policy uses no reward or value model (it acts without a cost); "
                         "drop the reward_model / value_model options or plan with {kind: cem}")
    if value_model is not None and reward_model is None:
        raise WmhubError("reacher-easy-return: value_model is the terminal value after the learned rewards of the "
                         "horizon; name the reward run too (reward_model: runs/reacher_reward_1m_state)")
    if not 0.0 < gamma <= 1.0:
        raise WmhubError(f"reacher-easy-return: gamma must be in (0, 1], got {gamma}")
    model, plan = _prepare(dynamics, planner, seed, device, prior=value_model)
    fs = frame_skip_of(model)
    extra_flops = 0
    if isinstance(planner, PolicyConfig):
        cost_fn, source = to_target_cost, "policy"  # the cost is never evaluated
    elif reward_model is not None:
        require_state_latent(reward_model)
        reward_model = reward_model.eval().to(model.device)
        extra_flops = 2 * reward_model.num_parameters
        if value_model is None:
            cost_fn, source = reward_model_cost(reward_model), "reward_model"
        else:
            require_state_latent(value_model)
            value_model = value_model.eval().to(model.device)
            cost_fn, source = reward_value_cost(reward_model, value_model, gamma), "reward_model+value"
            # the critic runs once per sequence, not per step: its FLOPs spread over the horizon
            critic = sum(p.numel() for p in value_model.critic.parameters())
            extra_flops += 2 * critic // max(1, getattr(planner, "horizon", 1))
    else:
        cost_fn, source = to_target_cost, "state_surrogate"
    env = REACHER.make_env(seed)
    per_episode = []
    progress = Progress(episodes * episode_length, "action", "episode", "reacher-easy-return",
                        enabled=show_progress)
    recorder = PlanningVideos(video_dir, "reacher-easy-return", videos, show_progress=show_progress)
    fingertips = FingertipPaths(video_dir, "reacher-easy-return", videos, model, plan, dynamics, seed)
    try:
        for _ in range(episodes):
            timestep = env.reset()
            recorder.start(len(per_episode), goal=None, label=f"reset {len(per_episode)}")
            recorder.step(REACHER.physics_state(env), None)
            fingertips.start(len(per_episode), episode_length, f"reset {len(per_episode)}")
            radius = REACHER.reach_radius(env.physics)
            z = REACHER.observation_latent(timestep.observation)
            plan.reset()
            total, reached_at, k = 0.0, None, 0
            while k < episode_length:
                step = plan.plan(model, z, cost_fn)
                fingertips.capture(k, env, z)
                for _, timestep in env_steps(env, step.action, fs, episode_length - k):
                    k += 1
                    recorder.step(REACHER.physics_state(env), step.cost)
                    z = REACHER.observation_latent(timestep.observation)
                    total += float(timestep.reward)
                    if reached_at is None and float(np.linalg.norm(z[TO_TARGET])) <= radius:
                        reached_at = k
                    progress.update(1, 0, f"episode {len(per_episode) + 1}/{episodes}, return so far {total:.0f}")
            per_episode.append({"return": total, "steps_to_reach": reached_at,
                                "final_inside": bool(np.linalg.norm(z[TO_TARGET]) <= radius)})
            recorder.finish(f"return {total:.0f}")
            progress.update(0, 1, f"episode {len(per_episode)}/{episodes}, last return {total:.0f}")
    finally:  # the renderers are released whatever happens
        progress.close()
        recorder.close()
    reached = [e["steps_to_reach"] for e in per_episode if e["steps_to_reach"] is not None]
    return {
        **_header("reacher-easy-return", model, planner, seed, episodes),
        "episode_length": episode_length, "reward_source": source,
        **({"gamma": gamma} if value_model is not None else {}),
        "return": mean_se(e["return"] for e in per_episode),
        "reached_rate": mean_se(float(e["steps_to_reach"] is not None) for e in per_episode),
        "steps_to_reach": mean_se(reached),
        "final_inside_rate": mean_se(float(e["final_inside"]) for e in per_episode),
        "anchors_1000_steps": {"td_mpc2": 983, "dreamer_v3": "915-957", "random": "0-150"},
        **_timing(plan, model, extra_flops), "videos": recorder.paths, **fingertips.result_fields(),
        "per_episode": per_episode}


SEED_PLANNER = CEMConfig(samples=500, elites=50, iterations=5, horizon=10, warm_start=True)


def run_seed_protocol(dynamics: DynamicsModel | RolloutModel, dataset_root: str | Path, val_episodes: Sequence[int],
                      *, episodes: int = 10, steps: int = 100, planner: PlannerConfig = SEED_PLANNER, seed: int = 0,
                      device: torch.device | str | None = None, videos: int = 3, video_dir: str | Path | None = None,
                      show_progress: bool = False) -> dict[str, Any]:
    """The seeds' goal-reaching protocol: ``steps`` env steps toward a state the data policy reached.

    Held-out episodes in which the finger was ever inside the target are
    used (a seeded permutation, at most ``episodes`` of them). Start: the
    episode's first recorded state; goal: the latent of the *last* recorded
    row with the finger inside the target (the final state for an episode that
    ends in the target). Cost: :func:`goal_latent_cost` (normalised units,
    mean over the horizon). Reported: the environment's reward sum, the
    initial / final / minimum normalised latent distance to the goal and
    improvement = (initial − final) / initial. The seeds' best: 29.0 reward,
    44.1% improvement. The first ``videos`` episodes are recorded as GIFs in ``video_dir``
    (the simulator beside the goal state; :mod:`wmhub.render.planning_video`).
    """
    if episodes < 1 or steps < 1:
        raise WmhubError("episodes and steps must be >= 1")
    if not val_episodes:
        raise WmhubError("no validation episodes given; pass the run's split.json val_episodes")
    _reject_world_model(dynamics)
    model, plan = _prepare(dynamics, planner, seed, device)
    fs = frame_skip_of(model)
    data = _load_episodes(dataset_root, sorted(int(e) for e in val_episodes))
    goals: dict[int, int] = {}
    for ep, rec in data.items():
        inside = np.flatnonzero(np.nan_to_num(rec["reward"][:-1]) >= 1.0) + 1  # reward r_t: row t + 1 is inside
        if inside.size:
            goals[ep] = int(inside.max())
    if not goals:
        raise WmhubError(f"none of the {len(data)} validation episodes ever reaches the target; "
                         "the seed protocol needs a reached state as goal")
    rng = np.random.default_rng(seed)
    chosen = [int(e) for e in rng.permutation(sorted(goals))[:episodes]]
    env = REACHER.make_env(seed)
    per_episode = []
    progress = Progress(len(chosen) * steps, "action", "episode", "seed-protocol", enabled=show_progress)
    recorder = PlanningVideos(video_dir, "seed-protocol", videos, show_progress=show_progress)
    fingertips = FingertipPaths(video_dir, "seed-protocol", videos, model, plan, dynamics, seed)
    try:
        for ep in chosen:
            rec, row = data[ep], goals[ep]
            goal = _goal_tensor(rec["latent"][row], model)
            z = REACHER.set_state(env, rec["qpos"][0], rec["qvel"][0], rec["target_pos"][0])
            cost_fn = goal_latent_cost(goal, model.normalize, "all")
            plan.reset()
            recorder.start(len(per_episode), goal=(rec["qpos"][row], rec["qvel"][row], rec["target_pos"][row]),
                           label=f"episode {ep} to step {row}")
            recorder.step(REACHER.physics_state(env), None)
            fingertips.start(len(per_episode), steps, f"episode {ep}")
            dists, total = [_latent_distance(model, z, goal)], 0.0
            while len(dists) <= steps:
                step = plan.plan(model, z, cost_fn)
                fingertips.capture(len(dists) - 1, env, z)
                for _, timestep in env_steps(env, step.action, fs, steps + 1 - len(dists)):
                    recorder.step(REACHER.physics_state(env), step.cost)
                    z = REACHER.observation_latent(timestep.observation)
                    total += float(timestep.reward)
                    dists.append(_latent_distance(model, z, goal))
                    progress.update(1, 0, f"episode {len(per_episode) + 1}/{len(chosen)}, reward {total:.0f}")
            initial, final = dists[0], dists[-1]
            per_episode.append({"episode_index": ep, "goal_step": row, "reward_sum": total, "initial_distance": initial,
                                "final_distance": final, "min_distance": min(dists),
                                "improvement": (initial - final) / initial if initial > 0 else 0.0})
            recorder.finish(f"reward {total:.0f}, distance {initial:.3g} -> {final:.3g}")
    finally:  # the renderers are released whatever happens
        progress.close()
        recorder.close()
    return {
        **_header("seed-protocol", model, planner, seed, len(chosen)),
        "steps": steps, "eligible_episodes": len(goals),
        **{key: mean_se(e[key] for e in per_episode)
           for key in ("reward_sum", "initial_distance", "final_distance", "min_distance", "improvement")},
        "seed_best": {"reward_sum": 29.0, "improvement": 0.441},
        **_timing(plan, model), "videos": recorder.paths, **fingertips.result_fields(), "per_episode": per_episode}


SUITE_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "goal-success": run_goal_success, "reacher-easy-return": run_reacher_return, "seed-protocol": run_seed_protocol}
HEADLINES: dict[str, tuple[str, ...]] = {
    "goal-success": ("success_rate", "final_success_rate", "steps_to_success", "final_joint_error_rad"),
    "reacher-easy-return": ("return", "reached_rate", "steps_to_reach"),
    "seed-protocol": ("reward_sum", "improvement", "initial_distance", "final_distance", "min_distance"),
}

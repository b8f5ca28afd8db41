"""Predicted vs real fingertip paths of a few plans, for planning suites on the reacher state latent.

A suite records the episodes it films (its ``videos`` option, :mod:`wmhub.render.planning_video`);
of each, :class:`FingertipPaths` captures the first plan and the first one at or after mid-episode.
For a captured plan: the planner's optimised action sequence (its final mean, clamped to the action
range; the first action is the one the suite executes), the model's open-loop rollout of that
sequence from the plan's start latent (the same ``rollout`` the planner scored; a world model's
with the real history it was given) and the simulator's path when the whole sequence is executed
from the same physics state in a private copy of the environment (the suite's own episode goes on
untouched). The fingertip is read from the latent's ``to_target`` (target − fingertip, metres),
predicted and real alike, so the plot shows the fingertip relative to the target.

Capturing runs between planning calls, outside their timing. The suite's result gets
``fingertip_paths`` (:meth:`FingertipPaths.result_fields`): the plot's file name in ``RUN/eval/``
(``<suite>-fingertip-paths.png``, :mod:`wmhub.render.fingertip_plot`) and every plotted path, or a
``skipped`` note where the fingertip is not readable (an end-to-end world model's learned embedding)
or no action sequence is planned (a policy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from wmhub.envs.registry import PlanningAdapter, get_env
from wmhub.eval.planners import ACTION_HIGH, ACTION_LOW, Planner, PolicyPlanner, RolloutModel
from wmhub.models.jepa import JEPAWorldModel
from wmhub.render.fingertip_plot import FingertipPath, write_fingertip_plot

REACHER = cast(PlanningAdapter, get_env("reacher").planning)


def plot_name(suite: str) -> str:
    """The plot's file name in ``RUN/eval/`` for ``suite``.

    Example:
        >>> plot_name("goal-success")
        'goal-success-fingertip-paths.png'
    """
    return f"{suite}-fingertip-paths.png"


def planned_sequence(planner: Planner) -> np.ndarray | None:
    """The action sequence ``[H, A]`` of the planner's last plan (clamped like the executed action), or None
    for a planner that plans no sequence (a policy) or has not planned yet."""
    mean = None if isinstance(planner, PolicyPlanner) else planner.sequence
    if mean is None:
        return None
    return mean.clamp(ACTION_LOW, ACTION_HIGH).double().cpu().numpy()


class FingertipPaths:
    """Captures plans of a suite's recorded episodes and writes the predicted-vs-real fingertip plot.

    Every method is a no-op when nothing is recorded (no ``out_dir``, ``count`` 0, or a skip), so a
    suite calls them unconditionally.

    Args:
        out_dir: the run's ``eval/`` folder; None records nothing.
        suite: the suite's name (names the file).
        count: the suite's first ``count`` episodes are captured (its ``videos`` option).
        model: the rollout model the suite plans with.
        planner: the suite's planner.
        dynamics: the model the suite was given (an end-to-end world model is skipped).
        seed: seed of the private environment the real paths are simulated in.

    Example:
        >>> paths = FingertipPaths(None, "goal-success", 3, model, planner, model)  # doctest: +SKIP
        >>> paths.result_fields()                                                     # doctest: +SKIP
        {}
    """

    def __init__(self, out_dir: str | Path | None, suite: str, count: int, model: RolloutModel, planner: Planner,
                 dynamics: Any = None, seed: int = 0) -> None:
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.suite, self.model, self.planner, self.seed = suite, model, planner, seed
        self.count = max(0, int(count)) if self.out_dir is not None else 0
        self.skipped: str | None = None
        if self.count and isinstance(dynamics, JEPAWorldModel):
            self.skipped = ("the model plans in a learned embedding, from which the fingertip is not readable; "
                            "predicted fingertip paths need the state latent (to_target)")
        elif self.count and isinstance(planner, PolicyPlanner):
            self.skipped = "a policy plans no action sequence to predict a fingertip path from"
        self.paths: list[FingertipPath] = []
        self._plans: list[dict[str, Any]] = []  # what each path was computed from (kept in the result)
        self._env = None
        self._number, self._label, self._mid, self._taken = 0, "", 0, 0

    @property
    def active(self) -> bool:
        """Whether plans are captured at all (an output folder, ``count`` > 0, and no skip)."""
        return self.count > 0 and self.skipped is None

    def start(self, number: int, length: int, label: str) -> None:
        """Begin the suite's episode ``number`` of ``length`` environment steps (captured when ``number < count``).

        Args:
            number: the episode's position in the suite (0-based).
            length: the episode's environment steps (its mid-episode plan is the first at or after half).
            label: what the panel titles say about the episode.
        """
        self._number, self._label, self._mid = number, label, max(1, length // 2)
        self._taken = 0 if self.active and number < self.count else 2

    def capture(self, step: int, env, z: np.ndarray) -> None:
        """Capture the plan just made at environment step ``step`` of the episode, if it is the first or the
        first at or after mid-episode; call it right after ``plan()``, before the action is executed.

        Args:
            step: environment steps taken in the episode before this plan.
            env: the suite's environment, in the state the plan started from (not changed).
            z: the latent the plan started from.
        """
        if self._taken >= 2 or (self._taken == 1 and step < self._mid):
            return
        sequence = planned_sequence(self.planner)
        if sequence is None:
            return
        self._taken += 1
        with torch.inference_mode():
            start = torch.as_tensor(np.asarray(z), dtype=torch.float32, device=self.model.device)
            actions = torch.as_tensor(sequence, dtype=torch.float32, device=self.model.device)[None]
            latents, _ = self.model.rollout(start, actions)
        predicted = -latents[0, :, REACHER.to_target].double().cpu().numpy()
        frame_skip = int(getattr(self.model, "frame_skip", 1))
        if self._env is None:
            self._env = REACHER.make_env(self.seed)
        qpos, qvel, target = REACHER.physics_state(env)
        REACHER.set_state(self._env, qpos, qvel, target)
        real = []
        for action in sequence.reshape(sequence.shape[0] * frame_skip, -1):
            self._env.step(action)
            real.append(-REACHER.live_latent(self._env)[REACHER.to_target].astype(np.float64))
        self.paths.append(FingertipPath(
            label=f"{self._label}, step {step}", episode=self._number, step=step,
            start=-np.asarray(z, np.float64)[REACHER.to_target], predicted=predicted,
            predicted_steps=frame_skip * np.arange(1, sequence.shape[0] + 1), real=np.stack(real),
            reach_radius=REACHER.reach_radius(env.physics)))
        self._plans.append({"start_latent": np.asarray(z, np.float64).tolist(), "actions": sequence.tolist(),
                            "start_state": {"qpos": qpos.tolist(), "qvel": qvel.tolist(),
                                            "target_pos": target.tolist()}})

    def result_fields(self) -> dict[str, Any]:
        """Write the plot (when any plan was captured) and return what the suite's result gets:
        ``{"fingertip_paths": {plot, frame, plans}}`` (each plan: its :meth:`FingertipPath.to_json`, the start
        latent, the planned actions and the start's physics state), ``{"fingertip_paths": {skipped}}``, or ``{}`` when
        nothing was to be recorded."""
        if self._env is not None:
            self._env.close()
            self._env = None
        if self.skipped is not None:
            return {"fingertip_paths": {"skipped": self.skipped}}
        if not self.paths or self.out_dir is None:
            return {}
        name = plot_name(self.suite)
        write_fingertip_plot(self.paths, self.out_dir / name, self.suite)
        plans = [{**path.to_json(), **plan} for path, plan in zip(self.paths, self._plans)]
        return {"fingertip_paths": {"plot": name, "frame": "fingertip - target (m), i.e. -to_target of the state "
                                    "latent", "plans": plans}}

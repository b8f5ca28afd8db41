"""Playground's Spot joystick task in plain MuJoCo, for a batch of environments.

:class:`SpotBatch` holds one ``MjData`` per environment and reproduces
``mujoco_playground``'s ``Joystick`` (registry name ``SpotFlatTerrainJoystick``) step by step:
joint targets ``clip(home + 0.3 · action, ctrlrange)``, 5 physics steps of
0.004 s per 0.02 s control step, fall termination when the body's up-vector z
falls below 0.85, a command resampled when Playground's step counter exceeds
200 (i.e. after every 201 control steps), and the same observations:

``state`` (81, float32), in this order:
    ``[0:3]`` gyro (imu frame, rad/s, noise ±0.1) ·
    ``[3:6]`` gravity = body z-axis in the world frame (``upvector`` sensor, noise ±0.03) ·
    ``[6:18]`` joint angles − home pose (noise ±0.05), legs FL, FR, HL, HR × (hx, hy, kn) ·
    ``[18:54]`` joint-position-error history: 3 × 12 of (noisy joint angles − motor targets), newest first ·
    ``[54:66]`` feet positions relative to the imu, imu frame, FL, FR, HL, HR × (x, y, z)
    (noise ±0.01 / ±0.005 / ±0.02 m, one uniform draw per foot shared by x, y, z as in Playground) ·
    ``[66:78]`` last action (as Playground: the observation after action a_t carries a_{t−1}) ·
    ``[78:81]`` command (v_x, v_y in m/s, yaw rate in rad/s).

``privileged_state`` (167, float32): ``state`` then the noise-free
gyro (3), accelerometer (3), gravity (3), local linear velocity (3, imu frame),
global angular velocity (3), joint angles − home (12), feet positions (12),
joint velocities (12), actuator forces (12), previous foot contacts (4),
feet global linear velocities (12, FL, FR, HL, HR × xyz), feet air time (4, s)
and the perturbation force on the body (3; always 0: perturbations are off).

Noise is uniform in ±scale (Playground's ``obs_noise.scales``), drawn from
each environment's own generator, so an environment's trajectory never
depends on the others in the batch.

The reward is Playground's full joystick reward, ``clip(ctrl_dt · Σ_k scale_k · term_k, 0, 10⁴)``
over the 14 terms of ``Joystick._get_reward`` with ``reward_config.scales`` (:data:`REWARD_SCALES`),
evaluated, as Playground does, after the physics step against the command in force during the action:

* ``tracking_lin_vel`` exp(−‖c_xy − v_xy‖² / 0.25) (v: ``local_linvel``) · ``tracking_ang_vel``
  exp(−(c_yaw − gyro_z)² / 0.25) · ``lin_vel_z`` (global linvel z)² · ``ang_vel_xy`` ‖global angvel_xy‖² ·
  ``orientation`` ‖upvector_xy‖² · ``posture`` exp(w · ‖q_joints − home‖²), w = −10 when ‖c‖ < 0.01 else 0 ·
  ``termination`` 1 when the robot fell · ``torques`` ‖τ‖₂ + ‖τ‖₁ (actuator forces) · ``action_rate``
  ‖a_t − a_{t−1}‖² + ‖a_t − 2a_{t−1} + a_{t−2}‖² · ``energy`` Σ |q̇_joints| · |τ| · ``feet_slip``
  Σ_feet ‖v_foot,xy‖² · contact · ``feet_clearance`` Σ_feet |z_foot − 0.12| · √‖v_foot,xy‖ ·
  ``feet_height`` Σ_feet (swing peak / 0.12 − 1)² · first contact (zero when ‖c‖ < 0.01) ·
  ``feet_air_time`` Σ_feet (air time − 0.1) · first contact (zero when ‖c‖ < 0.01).

Per-environment state across steps (previous two actions, feet air time, last contact, swing
peak) lives in the batch as arrays, updated in Playground's order. Playground computes in float32
(JAX); here the terms are float64 and only the stored values are rounded to float32.

The environments step together: the physics of the whole batch is one ``mujoco.batch.Batch`` (one
state row per environment, solver warm start included, stepped in MuJoCo's C loop; bit-identical to
one ``MjData`` stepped per environment), and the controller targets, observations, noise and reward
are numpy operations over the batch. Each environment still draws its noise and commands from its
own generator, in the same order as when the environments were stepped one by one, so the stored
bytes do not depend on the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmhub.envs.spot_model import CTRL_DT, FEET, N_SUBSTEPS, SpotModelInfo
from wmhub.errors import ConfigError, MissingDependencyError

ACTION_SCALE = 0.3
STATE_SIZE = 81
PRIVILEGED_SIZE = 167
UP_Z_MIN = 0.85
RESAMPLE_AFTER = 200  # Playground: new command once the step counter exceeds this
ZERO_COMMAND_PROB = 0.1
COMMAND_LOW = np.array([-1.0, -0.8, -1.0])
COMMAND_HIGH = np.array([1.0, 0.8, 1.0])
NOISE_GYRO, NOISE_GRAVITY, NOISE_JOINT = 0.1, 0.03, 0.05
NOISE_FEET = np.array([0.01, 0.005, 0.02])
TRACKING_SIGMA = 0.25
MAX_FOOT_HEIGHT = 0.12
REWARD_CLIP = (0.0, 10000.0)
# Playground's reward_config.scales, in the order of Joystick._get_reward (the order they are summed in)
REWARD_SCALES: dict[str, float] = {
    "tracking_lin_vel": 1.5, "tracking_ang_vel": 0.8, "lin_vel_z": -2.0, "ang_vel_xy": -0.05,
    "orientation": -5.0, "posture": 1.0, "termination": -1.0, "torques": -0.0002, "action_rate": -0.01,
    "energy": -0.001, "feet_slip": -0.1, "feet_clearance": -2.0, "feet_height": -0.1, "feet_air_time": 0.1,
}
REWARD_TERMS = tuple(REWARD_SCALES)
NOISE_DRAWS = 22  # gyro 3, gravity 3, joints 12, feet 4


def sample_command(rng: np.random.Generator) -> np.ndarray:
    """Playground's joystick command: uniform in the ranges, zero with probability 0.1."""
    u = rng.random(4)
    if u[3] < ZERO_COMMAND_PROB:
        return np.zeros(3)
    return COMMAND_LOW + (COMMAND_HIGH - COMMAND_LOW) * u[:3]


@dataclass
class StepResult:
    """What one control step produced, for every environment of the batch."""

    reward: np.ndarray  # [N] Playground's reward: clip(ctrl_dt · Σ terms, 0, 10⁴)
    fell: np.ndarray  # [N] bool
    command: np.ndarray  # [N, 3] the command the action was evaluated against
    local_linvel: np.ndarray  # [N, 3]
    yaw_rate: np.ndarray  # [N] gyro z
    terms: np.ndarray | None = None  # [N, 14] scale_k · term_k in REWARD_TERMS order (Playground's reward/<k>)


class SpotBatch:
    """``n`` Spot joystick environments stepped together (inactive ones are skipped).

    ``sim`` is the ``mujoco.batch.Batch`` holding the physics (``nthread`` threads, 1 by default:
    a generation worker is one process on one core); ``qpos``, ``qvel``, ``sensors``, ``force`` and
    ``feet_z`` are copies of its rows after the last reset or step of each environment.
    """

    def __init__(self, model, info: SpotModelInfo, n: int, obs_noise: bool = True, nthread: int = 1) -> None:
        try:
            from mujoco.batch import Batch
        except ImportError as exc:
            import mujoco

            raise MissingDependencyError(f"Spot steps its environments with mujoco.batch, which mujoco "
                                         f"{mujoco.__version__} lacks; install mujoco>=3.17,<4") from exc

        self.model, self.info, self.n, self.obs_noise = model, info, n, obs_noise
        # one state row per environment (qpos, qvel, ctrl, solver warm start, ...), stepped together; MuJoCo's
        # batch is bit-identical to stepping one MjData per environment
        self.sim = Batch(model, n, nthread=nthread)
        self._sim_qpos, self._sim_ctrl = self.sim.bind("qpos"), self.sim.bind("ctrl")
        self._sim_qvel, self._sim_sensors = self.sim.bind("qvel"), self.sim.bind("sensordata")
        self._sim_force, self._sim_site = self.sim.bind("actuator_force"), self.sim.bind("site_xpos")
        s = info.sensor
        self._s = {k: s[k] for k in ("gyro", "local_linvel", "accelerometer", "upvector", "global_angvel")}
        self._feet_pos = np.concatenate([np.arange(s[f"{f}_pos"].start, s[f"{f}_pos"].stop) for f in FEET])
        self._feet_vel = np.concatenate([np.arange(s[f"{f}_global_linvel"].start, s[f"{f}_global_linvel"].stop)
                                         for f in FEET])
        self._contact = np.array([s[f"{f}_floor_found"].start for f in FEET])
        self._global_linvel = s["global_linvel"]
        self.sensors = np.zeros((n, model.nsensordata))
        self.qpos = np.zeros((n, model.nq))
        self.qvel = np.zeros((n, model.nv))
        self.force = np.zeros((n, model.nu))
        self.feet_z = np.zeros((n, 4))  # world z of the foot sites
        self.counter = np.zeros(n, np.int64)
        self.command = np.zeros((n, 3))
        self.last_act = np.zeros((n, 12))
        self.last_last_act = np.zeros((n, 12))
        self.motor_targets = np.zeros((n, 12))
        self.history = np.zeros((n, 36))
        self.last_contact = np.zeros((n, 4), bool)
        self.air_time = np.zeros((n, 4))
        self.swing_peak = np.zeros((n, 4))
        self.rngs: list[np.random.Generator] = []

    def _read(self, rows: np.ndarray | slice) -> None:
        """Copy the simulation's outputs of ``rows`` (after a step: derived fields one substep behind)."""
        self.sensors[rows] = self._sim_sensors[rows]
        self.qpos[rows] = self._sim_qpos[rows]
        self.qvel[rows] = self._sim_qvel[rows]
        self.force[rows] = self._sim_force[rows]
        self.feet_z[rows] = self._sim_site[rows][:, self.info.foot_site, 2]

    def reset(self, rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """Reset every environment to ``home`` (zero velocity); returns (state, privileged_state)."""
        if len(rngs) != self.n:
            raise ConfigError(f"reset needs one generator per environment ({self.n}), got {len(rngs)}")
        self.rngs = list(rngs)
        return self.reset_some(np.arange(self.n), rngs)

    def reset_some(self, indices: np.ndarray | list[int],
                   rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """Reset the environments ``indices`` alone to ``home``, with generators ``rngs`` (one each).

        The other environments keep their state; a reset row continues exactly as the same row of a
        batch reset with :meth:`reset` would.

        Args:
            indices: the environments to reset (distinct).
            rngs: their generators (commands and observation noise), in the order of ``indices``.

        Returns:
            (state ``[N, 81]``, privileged_state ``[N, 167]``) of the whole batch; the rows of
            ``indices`` are the reset observations, the others are not meaningful.

        Raises:
            ConfigError: ``indices`` repeats an environment, ``rngs`` does not match it, or the batch was
                never reset (call :meth:`reset` first).

        Example:
            >>> state, privileged = batch.reset_some([2], [np.random.default_rng(7)])  # doctest: +SKIP
        """
        import mujoco

        indices = np.asarray(indices, np.int64).reshape(-1)
        if len(self.rngs) != self.n:
            raise ConfigError("reset_some resets environments of a batch already reset; call reset() first")
        if len(rngs) != len(indices) or len(np.unique(indices)) != len(indices):
            raise ConfigError(f"reset_some needs distinct environments and one generator each, got {len(indices)} "
                             f"indices and {len(rngs)} generators")
        order = np.argsort(indices)
        ids = indices[order]
        mask = np.zeros(self.n, bool)
        mask[ids] = True
        self.sim.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._sim_qpos[ids] = self.info.home_qpos
        self.sim.forward(ids)
        self._read(ids)
        for k in order:
            i = int(indices[k])
            self.rngs[i] = rngs[k]
            self.command[i] = sample_command(rngs[k])
        self.counter[ids] = 0
        for arr in (self.last_act, self.last_last_act, self.motor_targets, self.history, self.air_time,
                    self.swing_peak):
            arr[ids] = 0.0
        self.last_contact[ids] = False
        return self._observe(mask, ids)

    def targets(self, actions: np.ndarray) -> np.ndarray:
        """Joint position targets for a batch of actions (``[N, 12]``)."""
        return np.clip(self.info.default_pose + ACTION_SCALE * actions, self.info.ctrl_low, self.info.ctrl_high)

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepResult]:
        """Apply ``actions`` (float, ``[N, 12]``) to the active environments; returns the new
        (state, privileged_state) and a :class:`StepResult` (rows of inactive environments are stale)."""
        actions = np.asarray(actions, np.float64)
        active = np.asarray(active, bool)
        targets = self.targets(actions)
        rows = slice(None) if active.all() else np.flatnonzero(active)  # a slice is cheaper when all step
        if active.any():
            self._sim_ctrl[rows] = targets[rows]
            self.sim.step(None if isinstance(rows, slice) else rows, nstep=N_SUBSTEPS)
            self._read(rows)
        self.motor_targets[rows] = targets[rows]
        contact = self.sensors[:, self._contact] > 0
        first_contact = (self.air_time > 0.0) & (contact | self.last_contact)
        self.air_time[rows] += CTRL_DT
        self.swing_peak[rows] = np.maximum(self.swing_peak[rows], self.feet_z[rows])
        state, privileged = self._observe(active, rows)
        fell = self.sensors[:, self._s["upvector"]][:, 2] < UP_Z_MIN
        command = self.command.copy()
        terms = self.reward_terms(actions, command, contact, first_contact, fell)
        total = np.zeros(self.n)
        for k in range(len(REWARD_TERMS)):  # summed in Playground's order
            total = total + terms[:, k]
        reward = np.clip(total * CTRL_DT, *REWARD_CLIP)
        self.last_last_act[rows] = self.last_act[rows]
        self.last_act[rows] = actions[rows]
        self.counter[rows] += 1
        for i in np.flatnonzero(active & (self.counter > RESAMPLE_AFTER)):
            self.command[i] = sample_command(self.rngs[i])
            self.counter[i] = 0
        lifted = ~contact[rows]
        self.air_time[rows] *= lifted
        self.last_contact[rows] = contact[rows]
        self.swing_peak[rows] *= lifted
        result = StepResult(reward=reward, fell=fell, command=command,
                            local_linvel=self.sensors[:, self._s["local_linvel"]].copy(),
                            yaw_rate=self.sensors[:, self._s["gyro"]][:, 2].copy(), terms=terms)
        return state, privileged, result

    def reward_terms(self, actions: np.ndarray, command: np.ndarray, contact: np.ndarray,
                     first_contact: np.ndarray, fell: np.ndarray) -> np.ndarray:
        """Playground's scaled reward terms ``[N, 14]`` (``REWARD_TERMS`` order) for the current physics state.

        Called by :meth:`step` after the physics step, in the state Playground's ``Joystick.step``
        has when it calls ``_get_reward``: feet air time and swing peak already advanced, the
        previous two actions (``last_act``, ``last_last_act``) not yet shifted.

        Args:
            actions: the actions just applied, ``[N, 12]``.
            command: the command in force during the actions, ``[N, 3]``.
            contact: foot-floor contact after the step, ``[N, 4]`` bool.
            first_contact: feet touching down this step, ``[N, 4]`` bool.
            fell: the body's up-vector z fell below 0.85, ``[N]`` bool.

        Returns:
            ``scale_k · term_k`` per environment and term (float64).
        """
        s, sensors = self._s, self.sensors
        linvel = sensors[:, s["local_linvel"]]
        gyro = sensors[:, s["gyro"]]
        global_linvel = sensors[:, self._global_linvel]
        global_angvel = sensors[:, s["global_angvel"]]
        upvector = sensors[:, s["upvector"]]
        joint_vel, force = self.qvel[:, 6:], self.force
        feet_vel_xy = sensors[:, self._feet_vel].reshape(-1, 4, 3)[..., :2]
        feet_speed_sq = np.sum(feet_vel_xy ** 2, axis=-1)
        cmd_norm = np.linalg.norm(command, axis=1)
        moving = cmd_norm >= 0.01
        posture_cost = np.sum((self.qpos[:, 7:] - self.info.default_pose) ** 2, axis=1)
        last, last_last = self.last_act, self.last_last_act
        raw = {
            "tracking_lin_vel": np.exp(-np.sum((command[:, :2] - linvel[:, :2]) ** 2, axis=1) / TRACKING_SIGMA),
            "tracking_ang_vel": np.exp(-((command[:, 2] - gyro[:, 2]) ** 2) / TRACKING_SIGMA),
            "lin_vel_z": global_linvel[:, 2] ** 2,
            "ang_vel_xy": np.sum(global_angvel[:, :2] ** 2, axis=1),
            "orientation": np.sum(upvector[:, :2] ** 2, axis=1),
            "posture": np.exp(np.where(cmd_norm < 0.01, -10.0, 0.0) * posture_cost),
            "termination": fell.astype(np.float64),
            "torques": np.sqrt(np.sum(force ** 2, axis=1)) + np.sum(np.abs(force), axis=1),
            "action_rate": (np.sum((actions - last) ** 2, axis=1)
                            + np.sum((actions - 2.0 * last + last_last) ** 2, axis=1)),
            "energy": np.sum(np.abs(joint_vel) * np.abs(force), axis=1),
            "feet_slip": np.sum(feet_speed_sq * contact, axis=1),
            "feet_clearance": np.sum(np.abs(self.feet_z - MAX_FOOT_HEIGHT) * np.sqrt(np.sqrt(feet_speed_sq)), axis=1),
            "feet_height": np.sum((self.swing_peak / MAX_FOOT_HEIGHT - 1.0) ** 2 * first_contact, axis=1) * moving,
            "feet_air_time": np.sum((self.air_time - 0.1) * first_contact, axis=1) * moving,
        }
        return np.stack([raw[name] * REWARD_SCALES[name] for name in REWARD_TERMS], axis=1)

    def _noise(self, active: np.ndarray) -> np.ndarray:
        """Uniform draws in [−1, 1) for the active rows, 22 from each environment's own generator."""
        u = np.zeros((self.n, NOISE_DRAWS))
        live = np.flatnonzero(active)
        if self.obs_noise and live.size:
            rngs = self.rngs
            u[live] = 2.0 * np.array([rngs[i].random(NOISE_DRAWS) for i in live]) - 1.0
        return u

    def _observe(self, active: np.ndarray, rows: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        """(state, privileged_state) of every row; noise is drawn and the history advances for the
        ``active`` environments only (``rows``: the same environments, as indices or a slice)."""
        s, sensors = self._s, self.sensors
        u = self._noise(active)
        gyro = sensors[:, s["gyro"]]
        gravity = sensors[:, s["upvector"]]
        joints = self.qpos[:, 7:]
        feet = sensors[:, self._feet_pos]
        noisy_feet = (feet.reshape(-1, 4, 3) + u[:, 18:22, None] * NOISE_FEET).reshape(-1, 12)
        noisy_joints = joints + u[:, 6:18] * NOISE_JOINT
        history = np.concatenate([noisy_joints - self.motor_targets, self.history[:, :24]], axis=1)
        self.history[rows] = history[rows]
        state = np.concatenate([
            gyro + u[:, 0:3] * NOISE_GYRO, gravity + u[:, 3:6] * NOISE_GRAVITY,
            noisy_joints - self.info.default_pose, self.history, noisy_feet, self.last_act, self.command,
        ], axis=1)
        privileged = np.concatenate([
            state, gyro, sensors[:, s["accelerometer"]], gravity, sensors[:, s["local_linvel"]],
            sensors[:, s["global_angvel"]], joints - self.info.default_pose, feet, self.qvel[:, 6:], self.force,
            self.last_contact.astype(np.float64), sensors[:, self._feet_vel], self.air_time, np.zeros((self.n, 3)),
        ], axis=1)
        return state.astype(np.float32), privileged.astype(np.float32)

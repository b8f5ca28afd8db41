"""Playground's Spot joystick task in plain MuJoCo, for a batch of environments.

:class:`SpotBatch` holds one ``MjData`` per environment and reproduces
``mujoco_playground``'s ``Joystick`` (``SpotJoystickFlatTerrain``) step by step:
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
depends on the others in the batch. The reward is Playground's two tracking
terms only: ``ctrl_dt · (1.5 · exp(−|c_xy − v_xy|² / 0.25) + 0.8 · exp(−(c_yaw − ω_z)² / 0.25))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmhub.envs.spot_model import CTRL_DT, FEET, N_SUBSTEPS, SpotModelInfo

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
TRACKING_WEIGHTS = (1.5, 0.8)
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

    reward: np.ndarray  # [N]
    fell: np.ndarray  # [N] bool
    command: np.ndarray  # [N, 3] the command the action was evaluated against
    local_linvel: np.ndarray  # [N, 3]
    yaw_rate: np.ndarray  # [N] gyro z


class SpotBatch:
    """``n`` Spot joystick environments stepped together (inactive ones are skipped)."""

    def __init__(self, model, info: SpotModelInfo, n: int, obs_noise: bool = True) -> None:
        import mujoco

        self._mj = mujoco
        self.model, self.info, self.n, self.obs_noise = model, info, n, obs_noise
        self.datas = [mujoco.MjData(model) for _ in range(n)]
        s = info.sensor
        self._s = {k: s[k] for k in ("gyro", "local_linvel", "accelerometer", "upvector", "global_angvel")}
        self._feet_pos = np.concatenate([np.arange(s[f"{f}_pos"].start, s[f"{f}_pos"].stop) for f in FEET])
        self._feet_vel = np.concatenate([np.arange(s[f"{f}_global_linvel"].start, s[f"{f}_global_linvel"].stop)
                                         for f in FEET])
        self._contact = np.array([s[f"{f}_floor_found"].start for f in FEET])
        self.sensors = np.zeros((n, model.nsensordata))
        self.qpos = np.zeros((n, model.nq))
        self.qvel = np.zeros((n, model.nv))
        self.force = np.zeros((n, model.nu))
        self.counter = np.zeros(n, np.int64)
        self.command = np.zeros((n, 3))
        self.last_act = np.zeros((n, 12))
        self.motor_targets = np.zeros((n, 12))
        self.history = np.zeros((n, 36))
        self.last_contact = np.zeros((n, 4), bool)
        self.air_time = np.zeros((n, 4))
        self.rngs: list[np.random.Generator] = []

    def _read(self, i: int) -> None:
        d = self.datas[i]
        self.sensors[i] = d.sensordata
        self.qpos[i] = d.qpos
        self.qvel[i] = d.qvel
        self.force[i] = d.actuator_force

    def reset(self, rngs: list[np.random.Generator]) -> tuple[np.ndarray, np.ndarray]:
        """Reset every environment to ``home`` (zero velocity); returns (state, privileged_state)."""
        mj, model = self._mj, self.model
        self.rngs = list(rngs)
        for i, d in enumerate(self.datas):
            mj.mj_resetData(model, d)
            d.qpos[:] = self.info.home_qpos
            mj.mj_forward(model, d)
            self._read(i)
            self.command[i] = sample_command(self.rngs[i])
        self.counter[:] = 0
        for arr in (self.last_act, self.motor_targets, self.history, self.air_time):
            arr[:] = 0.0
        self.last_contact[:] = False
        return self._observe(np.ones(self.n, bool))

    def targets(self, actions: np.ndarray) -> np.ndarray:
        """Joint position targets for a batch of actions (``[N, 12]``)."""
        return np.clip(self.info.default_pose + ACTION_SCALE * actions, self.info.ctrl_low, self.info.ctrl_high)

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, StepResult]:
        """Apply ``actions`` (float, ``[N, 12]``) to the active environments; returns the new
        (state, privileged_state) and a :class:`StepResult` (rows of inactive environments are stale)."""
        mj, model = self._mj, self.model
        actions = np.asarray(actions, np.float64)
        targets = self.targets(actions)
        for i in np.flatnonzero(active):
            d = self.datas[i]
            d.ctrl[:] = targets[i]
            mj.mj_step(model, d, N_SUBSTEPS)
            self._read(i)
        self.motor_targets[active] = targets[active]
        contact = self.sensors[:, self._contact] > 0
        self.air_time[active] += CTRL_DT
        state, privileged = self._observe(active)
        up_z = self.sensors[:, self._s["upvector"]][:, 2]
        linvel = self.sensors[:, self._s["local_linvel"]]
        yaw_rate = self.sensors[:, self._s["gyro"]][:, 2]
        command = self.command.copy()
        lin_err = np.sum((command[:, :2] - linvel[:, :2]) ** 2, axis=1)
        yaw_err = (command[:, 2] - yaw_rate) ** 2
        reward = CTRL_DT * (TRACKING_WEIGHTS[0] * np.exp(-lin_err / TRACKING_SIGMA)
                            + TRACKING_WEIGHTS[1] * np.exp(-yaw_err / TRACKING_SIGMA))
        self.last_act[active] = actions[active]
        self.counter[active] += 1
        for i in np.flatnonzero(active & (self.counter > RESAMPLE_AFTER)):
            self.command[i] = sample_command(self.rngs[i])
            self.counter[i] = 0
        self.air_time[active] *= ~contact[active]
        self.last_contact[active] = contact[active]
        result = StepResult(reward=np.maximum(reward, 0.0), fell=up_z < UP_Z_MIN, command=command,
                            local_linvel=linvel.copy(), yaw_rate=yaw_rate.copy())
        return state, privileged, result

    def _noise(self, active: np.ndarray) -> np.ndarray:
        u = np.zeros((self.n, NOISE_DRAWS))
        if self.obs_noise:
            for i in np.flatnonzero(active):
                u[i] = 2.0 * self.rngs[i].random(NOISE_DRAWS) - 1.0
        return u

    def _observe(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, sensors = self._s, self.sensors
        u = self._noise(active)
        gyro = sensors[:, s["gyro"]]
        gravity = sensors[:, s["upvector"]]
        joints = self.qpos[:, 7:]
        feet = sensors[:, self._feet_pos]
        noisy_feet = (feet.reshape(-1, 4, 3) + u[:, 18:22, None] * NOISE_FEET).reshape(-1, 12)
        noisy_joints = joints + u[:, 6:18] * NOISE_JOINT
        history = np.concatenate([noisy_joints - self.motor_targets, self.history[:, :24]], axis=1)
        self.history[active] = history[active]
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

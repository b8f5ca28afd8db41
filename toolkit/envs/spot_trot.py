"""A scripted trot for Spot that follows the joystick command.

Diagonal pairs (FL+HR, FR+HL) alternate with a fixed gait period. Each foot
follows a Cartesian trajectory relative to its home position in the body
frame: during stance it slides backwards by the displacement the body should
make over the stance phase (``(v_x − ω p_y, v_y + ω p_x) · T_stance`` for a
foot at ``(p_x, p_y)``, so the command's yaw rate turns the body about its
centre); during swing it returns along a smooth curve while lifted by a
half-sine. Foot offsets map to joint offsets through the inverse of each
leg's 3×3 foot Jacobian at the ``home`` pose (offsets are at most a few
centimetres, where the linearisation is accurate), and joint offsets to
actions through Playground's action scale (0.3 rad). Two small feedback
terms use only the observation: body roll/pitch (from the gravity vector)
lengthens or shortens stance legs, and the measured yaw rate (gyro) is fed
back into the turning term. Actions are clipped to [−1, 1].

Everything is elementwise over the batch, so a row's action depends only on
that row's observation and step counter.
"""

from __future__ import annotations

import numpy as np

from toolkit.envs.spot_model import CTRL_DT, FEET, SpotModelInfo

ACTION_SCALE = 0.3
PERIOD = 0.4  # s per gait cycle (2.5 Hz)
SWING_FRACTION = 0.5
LIFT = 0.07  # m, swing apex above the stance line
STANCE_PUSH = 0.0  # m, extra leg extension in stance
STRIDE_GAIN = (1.0, 1.0, 1.0)  # multipliers on the x / y / yaw stride (slip compensation)
ROLL_PITCH_GAIN = 0.3  # m of leg-length change per unit of gravity-vector tilt
YAW_FEEDBACK = 0.3  # fraction of the yaw-rate error added to the commanded yaw rate
MAX_STEP = 0.16  # m, bound on the stance displacement of one foot
PHASE_OFFSET = np.array([0.0, 0.5, 0.5, 0.0])  # FL, FR, HL, HR: diagonal pairs


class TrotPolicy:
    """``policy(state [N, 81], step [N]) -> actions [N, 12]`` (float32, in [−1, 1])."""

    def __init__(self, model, info: SpotModelInfo) -> None:
        import mujoco

        data = mujoco.MjData(model)
        data.qpos[:] = info.home_qpos
        mujoco.mj_forward(model, data)
        body_pos = data.xpos[info.body_id].copy()
        self.foot_home = np.stack([data.site_xpos[s] - body_pos for s in info.foot_site])  # [4, 3] body frame
        self.inv_jac = np.empty((4, 3, 3))
        jacp = np.zeros((3, model.nv))
        for leg, site in enumerate(info.foot_site):
            mujoco.mj_jacSite(model, data, jacp, None, int(site))
            dofs = slice(6 + 3 * leg, 9 + 3 * leg)
            self.inv_jac[leg] = np.linalg.inv(jacp[:, dofs])
        self.steps_per_cycle = PERIOD / CTRL_DT
        self.names = FEET

    def foot_offsets(self, command: np.ndarray, gravity: np.ndarray, gyro: np.ndarray,
                     step: np.ndarray) -> np.ndarray:
        """Desired foot displacement from home, ``[N, 4, 3]`` in the body frame."""
        n = len(step)
        phase = (step[:, None] / self.steps_per_cycle + PHASE_OFFSET[None, :]) % 1.0  # [N, 4]
        stance = phase < (1.0 - SWING_FRACTION)
        t_stance = PERIOD * (1.0 - SWING_FRACTION)
        yaw = command[:, 2] + YAW_FEEDBACK * (command[:, 2] - gyro[:, 2])
        px, py = self.foot_home[:, 0][None, :], self.foot_home[:, 1][None, :]
        step_x = (command[:, 0:1] * STRIDE_GAIN[0] - STRIDE_GAIN[2] * yaw[:, None] * py) * t_stance
        step_y = (command[:, 1:2] * STRIDE_GAIN[1] + STRIDE_GAIN[2] * yaw[:, None] * px) * t_stance
        norm = np.maximum(np.hypot(step_x, step_y) / MAX_STEP, 1.0)
        step_x, step_y = step_x / norm, step_y / norm
        s_stance = phase / (1.0 - SWING_FRACTION)
        s_swing = (phase - (1.0 - SWING_FRACTION)) / SWING_FRACTION
        along = np.where(stance, 0.5 - s_stance, -0.5 + 0.5 * (1.0 - np.cos(np.pi * s_swing)))
        lift = np.where(stance, -STANCE_PUSH, LIFT * np.sin(np.pi * np.clip(s_swing, 0.0, 1.0)))
        # tilt feedback: gravity[0] > 0 is nose-down (body z-axis leans forward) -> extend the front legs;
        # gravity[1] > 0 is left side down -> extend the left legs
        tilt_z = -ROLL_PITCH_GAIN * (gravity[:, 0:1] * np.sign(px) + gravity[:, 1:2] * np.sign(py))
        offsets = np.empty((n, 4, 3))
        offsets[..., 0] = along * step_x
        offsets[..., 1] = along * step_y
        offsets[..., 2] = lift + np.where(stance, tilt_z, 0.0)
        return offsets

    def __call__(self, state: np.ndarray, step: np.ndarray) -> np.ndarray:
        state = np.asarray(state, np.float64)
        offsets = self.foot_offsets(state[:, 78:81], state[:, 3:6], state[:, 0:3], np.asarray(step))
        dq = np.einsum("lij,nlj->nli", self.inv_jac, offsets).reshape(len(state), 12)
        return np.clip(dq / ACTION_SCALE, -1.0, 1.0).astype(np.float32)

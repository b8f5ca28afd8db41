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
terms use only the observation: body roll/pitch (the gravity vector rotated into the
heading frame by an integrated gyro yaw)
lengthens or shortens stance legs, and the measured yaw rate (gyro) is fed
back into the turning term. Actions are clipped to [−1, 1].

Everything is elementwise over the batch, so a row's action depends only on
that row's observations and step counter (the heading estimate is kept per row
and reset when its step counter is 0).
"""

from __future__ import annotations

import numpy as np

from toolkit.envs.spot_model import CTRL_DT, FEET, SpotModelInfo

ACTION_SCALE = 0.3
PERIOD = 0.5  # s per gait cycle (2 Hz)
SWING_FRACTION = 0.5
LIFT = 0.06  # m, swing apex above the stance line
KNEE_SAG = 0.22  # rad, knee extension added to stance legs: the servo's sag under the body's weight
STRIDE_GAIN = (1.8, 1.6, 1.6)  # x / y / yaw stride per commanded unit (measured: compliance and slip)
ROLL_PITCH_GAIN = 1.0  # m of leg-length change per unit of body tilt (up-axis x/y in the body frame)
YAW_FEEDBACK = 0.3  # fraction of the yaw-rate error added to the commanded yaw rate
PHASE_LEAD = 0.0  # control steps the trajectory is evaluated ahead, to offset the servos' lag
MAX_STEP = 0.3  # m, bound on the stance displacement of one foot
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
        self.names = FEET
        self._yaw: np.ndarray | None = None  # heading estimate per batch row

    def foot_offsets(self, command: np.ndarray, tilt: np.ndarray, gyro: np.ndarray,
                     step: np.ndarray) -> np.ndarray:
        """Desired foot displacement from home, ``[N, 4, 3]`` in the body frame."""
        n = len(step)
        phase = ((step[:, None] + PHASE_LEAD) / (PERIOD / CTRL_DT) + PHASE_OFFSET[None, :]) % 1.0  # [N, 4]
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
        lift = np.where(stance, 0.0, LIFT * np.sin(np.pi * np.clip(s_swing, 0.0, 1.0)))
        # tilt feedback: tilt[0] > 0 is nose-down -> extend the front legs; tilt[1] > 0 is left side
        # down -> extend the left legs
        tilt_z = -ROLL_PITCH_GAIN * (tilt[:, 0:1] * np.sign(px) + tilt[:, 1:2] * np.sign(py))
        offsets = np.empty((n, 4, 3))
        offsets[..., 0] = along * step_x
        offsets[..., 1] = along * step_y
        offsets[..., 2] = lift + np.where(stance, tilt_z, 0.0)
        return offsets, stance

    def body_tilt(self, state: np.ndarray, step: np.ndarray) -> np.ndarray:
        """World up-axis tilt in the body frame, ``[N, 2]`` (x: nose down, y: left side down).

        The observation's gravity vector is the body z-axis in the *world* frame, so its x/y
        rotate with the heading; the heading is tracked by integrating the gyro's yaw rate
        from 0 at each episode start (``step == 0``)."""
        n = len(state)
        if self._yaw is None or len(self._yaw) != n:
            self._yaw = np.zeros(n)
        self._yaw = np.where(step == 0, 0.0, self._yaw + state[:, 2] * CTRL_DT)
        c, s = np.cos(self._yaw), np.sin(self._yaw)
        gx, gy = state[:, 3], state[:, 4]
        return np.stack([c * gx + s * gy, -s * gx + c * gy], axis=1)

    def __call__(self, state: np.ndarray, step: np.ndarray) -> np.ndarray:
        state = np.asarray(state, np.float64)
        step = np.asarray(step)
        tilt = self.body_tilt(state, step)
        offsets, stance = self.foot_offsets(state[:, 78:81], tilt, state[:, 0:3], step)
        dq = np.einsum("lij,nlj->nli", self.inv_jac, offsets)
        dq[..., 2] += KNEE_SAG * stance
        dq = dq.reshape(len(state), 12)
        return np.clip(dq / ACTION_SCALE, -1.0, 1.0).astype(np.float32)

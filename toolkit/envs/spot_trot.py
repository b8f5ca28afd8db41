"""A scripted trot for Spot that follows the joystick command.

Diagonal pairs (FL+HR, FR+HL) alternate with a fixed gait period. Each foot
follows a Cartesian trajectory in the body frame, relative to its hip:

* **stance**: from where it touched down, the foot slides backwards by the
  displacement the body should make, ``(c_v + c_ω × p) · dt`` per step
  (``c`` the rate-limited command, ``p`` the foot's nominal position), so a
  yaw command turns the body about its centre by differential foot motion;
* **swing**: from where it lifted off, a smooth curve lifted by a half-sine to a
  Raibert-style touchdown target
  ``p_nom + (c_v + c_ω × p) · T_stance / 2 + k_v · (v − c_v) + k_ω · ((ω − c_ω) × p)``
  using the measured body velocity ``v`` and yaw rate ``ω``.

Feet positions map to joint angles through Spot's analytic leg inverse
kinematics (abduction ``hx``, hip ``hy`` and knee ``kn``; link offsets are read
from the compiled model), and stance legs get a feedforward target offset
``−Jᵀ f / Kp`` for their share of the body weight (the position servos'
sag). Body roll/pitch (gravity vector rotated into the heading frame by an
integrated yaw) and their rates lengthen or shorten the stance legs. Commands
are rate limited (they jump every 201 control steps); an integral of the
velocity / yaw-rate error, bounded, is added to the stance sweep (slip and
servo compliance); foot offsets from nominal are capped (``MAX_STEP``) so fast
commands shorten the step rather than overreach the legs. The action range
(home ± 0.3 rad) is the binding constraint: the nominal feet sit 6 cm behind
their home positions to centre the stride in the hy/kn range, and the swing lift
is 5 cm. Joint offsets map to actions through Playground's action scale
(0.3 rad); actions are clipped to [−1, 1].

The controller reads the noise-free ``privileged_state`` when given (body
velocity, gyro, gravity; :class:`~wmhub.envs.spot.SpotRunner` passes it) and
falls back to the noisy ``state`` otherwise (no velocity feedback then).
Everything is elementwise over the batch: a row's action depends only on that
row's observations, its step counter and its own filter state, which is reset
when the row's step counter is 0.
"""

from __future__ import annotations

import numpy as np

from wmhub.envs.spot_model import CTRL_DT, FEET, KP, SpotModelInfo

ACTION_SCALE = 0.3
PERIOD = 0.5  # s per gait cycle
SWING_FRACTION = 0.5
LIFT = 0.05  # m, swing apex above the stance line (the knee's action range allows little more)
STRIDE_GAIN = (1.0, 1.0, 1.0)  # x / y / yaw: stance sweep per commanded unit
RAIBERT_V = (0.08, 0.08)  # s, touchdown shift per m/s of velocity error (x, y)
RAIBERT_YAW = 0.12  # s, touchdown rotation per rad/s of yaw-rate error
WEIGHT_SHARE = 0.9  # fraction of the body weight compensated on the stance legs
ATT_GAIN = 0.5  # m of stance-leg extension per rad of tilt, times the foot's x/y sign
ATT_RATE_GAIN = 0.03  # m per rad/s of roll/pitch rate
MAX_STEP = (0.22, 0.15)  # m, bound on the touchdown offset from nominal (x, y)
VEL_INTEGRAL = (1.0, 1.0, 1.0)  # 1/s: integral gain of the velocity / yaw-rate error on the stance sweep
INTEGRAL_LIMIT = (0.5, 0.4, 0.6)  # m/s, m/s, rad/s
LOAD_RAMP = (0.2, 0.1)  # stance fraction over which the weight compensation ramps in / out
ACCEL = (1.5, 1.5, 3.0)  # command rate limits: m/s², m/s², rad/s²
FOOT_SHIFT_X = -0.06  # m, nominal feet x relative to home: centres the stride in the hy/kn action range
BODY_DROP = 0.0  # m, nominal body height below the home pose
GRAVITY = 9.81
PHASE_OFFSET = np.array([0.0, 0.5, 0.5, 0.0])  # FL, FR, HL, HR: diagonal pairs

# privileged_state layout (see wmhub.envs.spot_env)
P_GYRO, P_GRAVITY, P_LINVEL = slice(81, 84), slice(87, 90), slice(90, 93)
P_GLOBAL_ANGVEL = slice(93, 96)


def _rx(angle, y, z):
    c, s = np.cos(angle), np.sin(angle)
    return y * c - z * s, y * s + z * c


def _ry(angle, x, z):
    c, s = np.cos(angle), np.sin(angle)
    return x * c + z * s, -x * s + z * c


class LegKinematics:
    """Spot's leg (hx about x at the hip, hy then kn about y) in its hip frame (body axes)."""

    def __init__(self, model, info: SpotModelInfo) -> None:
        hips = [model.body(f"{leg}_hip").id for leg in ("fl", "fr", "hl", "hr")]
        self.hip = np.stack([model.body_pos[b] for b in hips])  # [4, 3] body frame
        self.d = np.array([model.body_pos[b + 1][1] for b in hips])  # [4] lateral offset hx -> hy
        upper = model.body_pos[hips[0] + 2]
        self.ux, self.uz = float(upper[0]), float(upper[2])  # hy -> kn
        self.l2 = -float(model.site_pos[info.foot_site[0]][2])  # kn -> foot
        self.l1 = float(np.hypot(self.ux, self.uz))
        self.alpha = float(np.arctan2(self.ux, -self.uz))

    def forward(self, q: np.ndarray) -> np.ndarray:
        """Joint angles ``[..., 4, 3]`` -> feet in the hip frames ``[..., 4, 3]``."""
        q1, q2, q3 = q[..., 0], q[..., 1], q[..., 2]
        lx, lz = _ry(q3, 0.0, -self.l2)
        sx, sz = _ry(q2, self.ux + lx, self.uz + lz)
        py, pz = _rx(q1, self.d, sz)
        return np.stack([sx, py, pz], axis=-1)

    def inverse(self, p: np.ndarray) -> np.ndarray:
        """Feet in the hip frames ``[..., 4, 3]`` -> joint angles (knee bent backwards)."""
        px, py, pz = p[..., 0], p[..., 1], p[..., 2]
        r2 = py * py + pz * pz
        sz = -np.sqrt(np.maximum(r2 - self.d * self.d, 1e-4))
        q1 = np.arctan2(pz, py) - np.arctan2(sz, self.d)
        reach = np.clip(np.hypot(px, sz), 0.15, self.l1 + self.l2 - 1e-3)
        cos_k = np.clip((reach * reach - self.l1 ** 2 - self.l2 ** 2) / (2 * self.l1 * self.l2), -1.0, 1.0)
        q3 = -np.arccos(cos_k) - self.alpha
        wx, wz = _ry(q3, 0.0, -self.l2)
        q2 = np.arctan2(px, sz) - np.arctan2(self.ux + wx, self.uz + wz)
        q = np.stack([q1, q2, q3], axis=-1)
        return (q + np.pi) % (2 * np.pi) - np.pi

    def jacobian_t_force(self, q: np.ndarray, force: np.ndarray, eps: float = 1e-4) -> np.ndarray:
        """``Jᵀ f`` per leg (``[..., 4, 3]``), by central differences of :meth:`forward`.

        The six displaced poses go through one :meth:`forward` call (elementwise, so each value is
        the one a call per pose gives).
        """
        poses = []
        for j in range(3):
            dq = np.zeros(3)
            dq[j] = eps
            poses += [q + dq, q - dq]
        feet = self.forward(np.stack(poses))  # [6, ..., 4, 3]: +e0, -e0, +e1, -e1, +e2, -e2
        dp = (feet[0::2] - feet[1::2]) / (2 * eps)  # [3, ..., 4, 3]
        return np.moveaxis(np.sum(dp * force, axis=-1), 0, -1)


class TrotPolicy:
    """``policy(state [N, 81], step [N], privileged [N, 167] | None) -> actions [N, 12]``."""

    uses_privileged = True

    def __init__(self, model, info: SpotModelInfo) -> None:
        self.kin = LegKinematics(model, info)
        self.home_q = info.default_pose.reshape(4, 3).astype(np.float64)
        self.foot_nom = self.kin.forward(self.home_q)  # [4, 3] hip frame
        self.foot_nom[:, 0] += FOOT_SHIFT_X
        self.foot_nom[:, 2] += BODY_DROP
        self.foot_body = self.foot_nom + self.kin.hip  # [4, 3] body frame (hx origin = hip)
        self.low = info.ctrl_low.reshape(4, 3)
        self.high = info.ctrl_high.reshape(4, 3)
        self.weight = float(np.sum(model.body_mass)) * GRAVITY
        self.names = FEET
        self._n = -1

    def _reset(self, n: int) -> None:
        self._n = n
        self._yaw = np.zeros(n)
        self._cmd = np.zeros((n, 3))
        self._foot = np.broadcast_to(self.foot_nom, (n, 4, 3)).copy()  # last commanded foot positions
        self._start = self._foot.copy()  # where the current stance / swing began
        self._stance = np.broadcast_to(PHASE_OFFSET < 0.5, (n, 4)).copy()
        self._integral = np.zeros((n, 3))

    def _restart(self, rows: np.ndarray) -> None:
        self._yaw[rows] = 0.0
        self._cmd[rows] = 0.0
        self._foot[rows] = self.foot_nom
        self._start[rows] = self.foot_nom
        self._stance[rows] = PHASE_OFFSET < 0.5
        self._integral[rows] = 0.0

    def _targets(self, foot: np.ndarray, force: np.ndarray) -> np.ndarray:
        q = self.kin.inverse(foot)
        return q - self.kin.jacobian_t_force(q, force) / KP

    def __call__(self, state: np.ndarray, step: np.ndarray, privileged: np.ndarray | None = None) -> np.ndarray:
        state = np.asarray(state, np.float64)
        step = np.asarray(step)
        n = len(state)
        if self._n != n:
            self._reset(n)
        self._restart(step == 0)
        if privileged is not None:
            privileged = np.asarray(privileged, np.float64)
            gyro, gravity = privileged[:, P_GYRO], privileged[:, P_GRAVITY]
            linvel, yaw_rate = privileged[:, P_LINVEL], privileged[:, P_GLOBAL_ANGVEL][:, 2]
        else:
            gyro, gravity = state[:, 0:3], state[:, 3:6]
            linvel, yaw_rate = None, state[:, 2]

        # heading (integrated yaw rate) -> tilt in the heading frame (pitch > 0: nose down)
        self._yaw = np.where(step == 0, 0.0, self._yaw + yaw_rate * CTRL_DT)
        c, s = np.cos(self._yaw), np.sin(self._yaw)
        pitch = c * gravity[:, 0] + s * gravity[:, 1]
        roll = s * gravity[:, 0] - c * gravity[:, 1]  # > 0: left side up

        # rate-limited command
        target = state[:, 78:81]
        limit = np.array(ACCEL) * CTRL_DT
        self._cmd = self._cmd + np.clip(target - self._cmd, -limit, limit)
        cmd = self._cmd
        v_meas = cmd[:, :2] if linvel is None else linvel[:, :2]
        w_meas = cmd[:, 2] if linvel is None else gyro[:, 2]

        phase = (step[:, None] / (PERIOD / CTRL_DT) + PHASE_OFFSET[None, :]) % 1.0  # [N, 4]
        stance = phase < (1.0 - SWING_FRACTION)
        t_stance = PERIOD * (1.0 - SWING_FRACTION)
        s_swing = np.clip((phase - (1.0 - SWING_FRACTION)) / SWING_FRACTION, 0.0, 1.0)
        touchdown = stance & ~self._stance
        liftoff = ~stance & self._stance
        self._start = np.where((touchdown | liftoff)[..., None], self._foot, self._start)
        self._stance = stance

        px, py = self.foot_body[None, :, 0], self.foot_body[None, :, 1]
        # integral of the tracking error (slip, servo compliance) added to the stance sweep
        if linvel is not None:
            err = np.concatenate([cmd[:, :2] - v_meas, (cmd[:, 2] - w_meas)[:, None]], axis=1)
            lim = np.array(INTEGRAL_LIMIT)
            self._integral = np.clip(self._integral + np.array(VEL_INTEGRAL) * err * CTRL_DT, -lim, lim)
        sweep = cmd * np.array(STRIDE_GAIN) + self._integral
        # body-frame velocity of the ground under each foot for the command
        vx_c = sweep[:, 0:1] - sweep[:, 2:3] * py
        vy_c = sweep[:, 1:2] + sweep[:, 2:3] * px
        dw = (w_meas - cmd[:, 2])[:, None]
        tx = vx_c * t_stance / 2 + RAIBERT_V[0] * (v_meas[:, 0:1] - cmd[:, 0:1]) - RAIBERT_YAW * dw * py
        ty = vy_c * t_stance / 2 + RAIBERT_V[1] * (v_meas[:, 1:2] - cmd[:, 1:2]) + RAIBERT_YAW * dw * px
        tx = np.clip(tx, -MAX_STEP[0], MAX_STEP[0])
        ty = np.clip(ty, -MAX_STEP[1], MAX_STEP[1])

        foot = np.empty((n, 4, 3))
        # stance: slide back at the commanded ground velocity (bounded around the nominal position)
        sx = np.clip(self._foot[..., 0] - vx_c * CTRL_DT - self.foot_nom[:, 0], -MAX_STEP[0], MAX_STEP[0])
        sy = np.clip(self._foot[..., 1] - vy_c * CTRL_DT - self.foot_nom[:, 1], -MAX_STEP[1], MAX_STEP[1])
        # swing: smooth from lift-off to the touchdown target
        blend = 0.5 * (1.0 - np.cos(np.pi * np.clip(s_swing * 1.15, 0.0, 1.0)))
        wx = (1 - blend) * (self._start[..., 0] - self.foot_nom[:, 0]) + blend * tx
        wy = (1 - blend) * (self._start[..., 1] - self.foot_nom[:, 1]) + blend * ty
        foot[..., 0] = self.foot_nom[:, 0] + np.where(stance, sx, wx)
        foot[..., 1] = self.foot_nom[:, 1] + np.where(stance, sy, wy)
        # attitude feedback on stance legs: nose down -> extend front legs (foot z lower);
        # left side down -> extend left legs
        rate_pitch, rate_roll = gyro[:, 1:2], gyro[:, 0:1]
        ext = (ATT_GAIN * (pitch[:, None] * np.sign(px) - roll[:, None] * np.sign(py))
               + ATT_RATE_GAIN * (rate_pitch * np.sign(px) - rate_roll * np.sign(py)))
        lift = LIFT * np.sin(np.pi * s_swing)
        foot[..., 2] = self.foot_nom[:, 2] + np.where(stance, -ext, lift)
        self._foot = foot

        # servo sag: stance legs carry the weight, target offset -Jᵀ f / Kp with f the ground force on the foot
        s_stance = phase / (1.0 - SWING_FRACTION)
        load = np.where(stance, np.minimum(1.0, np.minimum(s_stance / LOAD_RAMP[0], (1.0 - s_stance) / LOAD_RAMP[1])),
                        0.0)
        fz = WEIGHT_SHARE * self.weight / 2.0 * load
        force = np.zeros((n, 4, 3))
        force[..., 2] = fz
        q = self._targets(foot, force)
        q = np.clip(q, np.maximum(self.low, self.home_q - ACTION_SCALE),
                    np.minimum(self.high, self.home_q + ACTION_SCALE))
        actions = (q - self.home_q).reshape(n, 12) / ACTION_SCALE
        return np.clip(actions, -1.0, 1.0).astype(np.float32)

"""Spot's stored reward is MuJoCo Playground's full SpotFlatTerrainJoystick reward.

Every term is recomputed here by hand from a second ``MjData`` stepped with the same
controls: velocities from ``mj_objectVelocity``, orientation from ``site_xmat``, contacts
from ``data.contact``, and the per-foot bookkeeping (air time, swing peak, last contact,
previous actions) kept in this file, following Playground's ``Joystick.step`` /
``_get_reward`` (scales from its ``default_config``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("MENAGERIE_ROOT") and
                                not (Path.home() / ".cache" / "mujoco_menagerie").exists(),
                                reason="no Menagerie Spot model (set MENAGERIE_ROOT)")

# Playground spot/joystick.py default_config().reward_config, written out again on purpose
SCALES = {"tracking_lin_vel": 1.5, "tracking_ang_vel": 0.8, "lin_vel_z": -2.0, "ang_vel_xy": -0.05,
          "orientation": -5.0, "posture": 1.0, "termination": -1.0, "torques": -0.0002, "action_rate": -0.01,
          "energy": -0.001, "feet_slip": -0.1, "feet_clearance": -2.0, "feet_height": -0.1, "feet_air_time": 0.1}
SIGMA, FOOT_HEIGHT, DT = 0.25, 0.12, 0.02
FEET = ("FL", "FR", "HL", "HR")
TIP_OVER = np.array([-1, -1, 1, -1, 1, -1] * 2, np.float64)  # left legs long, right legs short: rolls over


@pytest.fixture(scope="module")
def spot_model():
    from wmhub.envs.spot_model import build_spot_model

    return build_spot_model()


class HandSpot:
    """One Spot stepped with plain MuJoCo calls and Playground's reward written out term by term."""

    def __init__(self, model, command) -> None:
        import mujoco

        self.mj, self.model = mujoco, model
        self.data = mujoco.MjData(model)
        home = model.keyframe("home").qpos
        self.data.qpos[:] = home
        mujoco.mj_forward(model, self.data)
        self.home = home[7:].copy()
        self.command = np.asarray(command, np.float64)
        self.imu = model.site("imu").id
        self.feet = [model.site(f).id for f in FEET]
        self.foot_geoms = [model.geom(f).id for f in FEET]
        self.floor = model.geom("floor").id
        self.last_act, self.last_last_act = np.zeros(12), np.zeros(12)
        self.air_time, self.swing_peak = np.zeros(4), np.zeros(4)
        self.last_contact = np.zeros(4, bool)

    def velocity(self, site: int, local: bool) -> np.ndarray:
        out = np.zeros(6)  # [angular, linear]
        self.mj.mj_objectVelocity(self.model, self.data, self.mj.mjtObj.mjOBJ_SITE, site, out, int(local))
        return out

    def contacts(self) -> np.ndarray:
        touching = np.zeros(4, bool)
        for c in self.data.contact[: self.data.ncon]:
            for k, geom in enumerate(self.foot_geoms):
                if {c.geom1, c.geom2} == {geom, self.floor}:
                    touching[k] = True
        return touching

    def step(self, action: np.ndarray) -> dict[str, float]:
        d, model = self.data, self.model
        low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
        d.ctrl[:] = np.clip(self.home + 0.3 * action, low, high)
        self.mj.mj_step(model, d, 5)
        contact = self.contacts()
        first_contact = (self.air_time > 0) & (contact | self.last_contact)
        self.air_time += DT
        feet_z = np.array([d.site_xpos[s, 2] for s in self.feet])
        self.swing_peak = np.maximum(self.swing_peak, feet_z)

        local = self.velocity(self.imu, local=True)
        world = self.velocity(self.imu, local=False)
        up = d.site_xmat[self.imu].reshape(3, 3)[:, 2]
        tau, joint_vel = d.actuator_force.copy(), d.qvel[6:].copy()
        foot_vxy = np.array([self.velocity(s, local=False)[3:5] for s in self.feet])
        c, moving = self.command, np.linalg.norm(self.command) >= 0.01
        raw = {
            "tracking_lin_vel": np.exp(-((c[0] - local[3]) ** 2 + (c[1] - local[4]) ** 2) / SIGMA),
            "tracking_ang_vel": np.exp(-((c[2] - local[2]) ** 2) / SIGMA),
            "lin_vel_z": world[5] ** 2,
            "ang_vel_xy": world[0] ** 2 + world[1] ** 2,
            "orientation": up[0] ** 2 + up[1] ** 2,
            "posture": np.exp((0.0 if moving else -10.0) * np.sum((d.qpos[7:] - self.home) ** 2)),
            "termination": float(up[2] < 0.85),
            "torques": np.linalg.norm(tau) + np.abs(tau).sum(),
            "action_rate": (np.sum((action - self.last_act) ** 2)
                            + np.sum((action - 2 * self.last_act + self.last_last_act) ** 2)),
            "energy": np.sum(np.abs(joint_vel) * np.abs(tau)),
            "feet_slip": sum(float(foot_vxy[k] @ foot_vxy[k]) for k in range(4) if contact[k]),
            "feet_clearance": sum(abs(feet_z[k] - FOOT_HEIGHT) * np.sqrt(np.linalg.norm(foot_vxy[k]))
                                  for k in range(4)),
            "feet_height": moving * sum((self.swing_peak[k] / FOOT_HEIGHT - 1) ** 2
                                        for k in range(4) if first_contact[k]),
            "feet_air_time": moving * sum(self.air_time[k] - 0.1 for k in range(4) if first_contact[k]),
        }
        self.last_last_act, self.last_act = self.last_act, action.copy()
        self.air_time = self.air_time * ~contact
        self.last_contact = contact
        self.swing_peak = self.swing_peak * ~contact
        self.first_contacts = int(first_contact.sum())
        return {name: SCALES[name] * value for name, value in raw.items()}


def test_each_reward_term_matches_a_hand_computation(spot_model):
    from wmhub.envs.spot_env import REWARD_TERMS, SpotBatch

    model, info = spot_model
    assert list(REWARD_TERMS) == list(SCALES)
    commands = np.array([[0.6, 0.2, -0.3], [0.0, 0.0, 0.0], [0.5, 0.0, 0.2]])
    batch = SpotBatch(model, info, 3, obs_noise=False)
    batch.reset([np.random.default_rng(i) for i in range(3)])
    batch.command[:] = commands
    hands = [HandSpot(model, c) for c in commands]
    rng = np.random.default_rng(0)
    active = np.ones(3, bool)
    seen = {"first_contact": 0, "fell": 0, "posture_gated": 0}
    for _ in range(60):
        actions = rng.uniform(-1, 1, (3, 12)).astype(np.float32).astype(np.float64)
        actions[2] = TIP_OVER
        batch.counter[:] = 0  # keep the commands fixed
        _, _, result = batch.step(actions, active)
        for i in np.flatnonzero(active):
            terms = hands[i].step(actions[i])
            np.testing.assert_array_equal(batch.qpos[i], hands[i].data.qpos)
            want = np.array([terms[name] for name in REWARD_TERMS])
            np.testing.assert_allclose(result.terms[i], want, rtol=1e-9, atol=1e-12)
            assert result.reward[i] == pytest.approx(np.clip(DT * sum(terms.values()), 0.0, 1e4), rel=1e-12,
                                                     abs=1e-15)
            seen["first_contact"] += hands[i].first_contacts if i == 0 else 0
            seen["fell"] += int(terms["termination"] == -1.0)
            seen["posture_gated"] += int(terms["posture"] < 0.999)
        active &= ~result.fell
    # the run exercised the stateful terms, the termination penalty and the zero-command gates
    assert seen["first_contact"] > 0 and seen["fell"] == 1 and seen["posture_gated"] > 0
    assert not active[2] and active[:2].all()


def test_stored_reward_and_terms_columns(tmp_path):
    from wmhub.envs.spot import SpotConfig, SpotRunner
    from wmhub.envs.spot_env import REWARD_TERMS

    runner = SpotRunner(SpotConfig(episode_length=40, policy="trot", epsilon=0.2, seed=2))
    (kept,) = runner.run_episodes([0])
    runner.policy = lambda state, step: np.tile(TIP_OVER.astype(np.float32), (len(state), 1))
    (fell,) = runner.run_episodes([1])
    assert fell.episode["fell"] and not kept.episode["fell"]
    for ep in (kept, fell):
        reward, terms = ep.steps["reward"][:-1], ep.steps["reward_terms"][:-1]
        assert terms.shape == (ep.episode["length"], len(REWARD_TERMS)) and terms.dtype == np.float32
        np.testing.assert_allclose(reward, np.clip(DT * terms.astype(np.float64).sum(axis=1), 0, 1e4), atol=1e-6)
        assert ep.episode["return"] == pytest.approx(reward.astype(np.float64).sum(), rel=1e-12)
        assert np.isnan(ep.steps["reward_terms"][-1]).all()
        termination = terms[:, REWARD_TERMS.index("termination")]
        assert list(termination[:-1]) == [0.0] * (len(termination) - 1)
        assert termination[-1] == (-1.0 if ep.episode["fell"] else 0.0)

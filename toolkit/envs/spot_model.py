"""Build MuJoCo Playground's ``SpotFlatTerrainJoystick`` model from Menagerie's Spot.

The robot comes from MuJoCo Menagerie through the ``mujoco_menagerie`` package
(``mujoco_menagerie.get('boston_dynamics_spot').path()``; set ``MENAGERIE_ROOT``
to use an offline copy). :func:`build_spot_model` edits Menagerie's
``spot.xml`` with :class:`mujoco.MjSpec` into Playground's feet-only joystick
model (``spot_mjx_feetonly.xml`` + ``scene_mjx_feetonly_flat_terrain.xml`` +
``sensor.xml``, with the gains ``SpotEnv`` sets at load time):

* options: timestep 0.004 s, Newton solver with 1 iteration and 5 line-search
  iterations, Euler integrator with ``eulerdamp`` disabled, pyramidal cone;
* contacts: only the four sphere feet (radius 0.036, solimp 0.9 0.95 0.036)
  touch a flat plane floor (priority 1, friction 0.6, condim 3); every other
  collision geom is removed;
* joints: damping 1.0 (Playground's ``Kd``), armature 0.1, frictionloss 0.2;
* actuators: position servos with Kp 300 and kv 20, control range = joint range;
* the ``home`` keyframe (base height 0.46 m, every leg 0 / 1.04 / −1.8 rad);
* Playground's sensors (imu gyro, velocimeter, accelerometer, frame sensors,
  feet velocities and positions, foot-floor contact flags).

Visual geoms (and their meshes) are removed unless ``visual=True``: the
offline Menagerie copy lacks one visual mesh and no physics depends on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wmhub.errors import MissingDependencyError, NotFoundError, WmhubError

MENAGERIE_NAME = "boston_dynamics_spot"
SIM_DT = 0.004
CTRL_DT = 0.02
N_SUBSTEPS = 5
KP = 300.0
KD = 1.0  # joint damping Playground sets on every leg dof
KV = 20.0  # actuator damping from spot_mjx_feetonly.xml's <position kv="20">
ARMATURE = 0.1
FRICTIONLOSS = 0.2
FOOT_RADIUS = 0.036
FOOT_POS = (0.0, 0.0, -0.3365)

LEGS = ("fl", "fr", "hl", "hr")
FEET = ("FL", "FR", "HL", "HR")  # Playground's FEET_SITES / FEET_GEOMS order
JOINTS = tuple(f"{leg}_{j}" for leg in LEGS for j in ("hx", "hy", "kn"))
HOME_BASE_HEIGHT = 0.46
HOME_LEG = (0.0, 1.04, -1.8)

# (name, mjtSensor, objtype, objname, reftype, refname) in sensor.xml + spot_mjx_feetonly.xml order
_SENSORS = [
    ("gyro", "mjSENS_GYRO", "mjOBJ_SITE", "imu", None, None),
    ("local_linvel", "mjSENS_VELOCIMETER", "mjOBJ_SITE", "imu", None, None),
    ("accelerometer", "mjSENS_ACCELEROMETER", "mjOBJ_SITE", "imu", None, None),
    ("position", "mjSENS_FRAMEPOS", "mjOBJ_SITE", "imu", None, None),
    ("upvector", "mjSENS_FRAMEZAXIS", "mjOBJ_SITE", "imu", None, None),
    ("forwardvector", "mjSENS_FRAMEXAXIS", "mjOBJ_SITE", "imu", None, None),
    ("global_linvel", "mjSENS_FRAMELINVEL", "mjOBJ_SITE", "imu", None, None),
    ("global_angvel", "mjSENS_FRAMEANGVEL", "mjOBJ_SITE", "imu", None, None),
    ("orientation", "mjSENS_FRAMEQUAT", "mjOBJ_SITE", "imu", None, None),
    *[(f"{f}_global_linvel", "mjSENS_FRAMELINVEL", "mjOBJ_SITE", f, None, None) for f in ("FR", "FL", "HR", "HL")],
    *[(f"{f}_pos", "mjSENS_FRAMEPOS", "mjOBJ_SITE", f, "mjOBJ_SITE", "imu") for f in ("FR", "FL", "HR", "HL")],
]


@dataclass(frozen=True)
class SpotModelInfo:
    """Addresses the environment reads, resolved once from the compiled model."""

    sensor: dict[str, slice]  # sensor name -> slice of sensordata
    foot_site: np.ndarray  # site ids, FEET order
    body_id: int
    home_qpos: np.ndarray  # [19]
    default_pose: np.ndarray  # [12] joint angles of ``home``
    ctrl_low: np.ndarray  # [12]
    ctrl_high: np.ndarray  # [12]


def spot_model_dir() -> Path:
    """Menagerie's Spot directory, via ``mujoco_menagerie`` (honours ``MENAGERIE_ROOT``)."""
    try:
        import mujoco_menagerie
    except ImportError as exc:  # pragma: no cover - a dependency of wmhub
        raise MissingDependencyError("the Spot environment needs the mujoco_menagerie package; "
                                     "install it with `pip install mujoco_menagerie==2026.10.4`") from exc
    try:
        path = Path(mujoco_menagerie.get(MENAGERIE_NAME).path())
    except Exception as exc:  # MenagerieError (download, checksum, missing root) and OSError
        root = os.environ.get("MENAGERIE_ROOT")
        where = f"MENAGERIE_ROOT={root}" if root else "MENAGERIE_ROOT is not set and the download failed"
        raise NotFoundError(f"Spot model not found ({where}: {exc}); set MENAGERIE_ROOT to a directory holding "
                            f"{MENAGERIE_NAME}/spot.xml (e.g. ../shared/menagerie) or allow mujoco_menagerie "
                            "to download it") from exc
    if not (path / "spot.xml").is_file():
        raise NotFoundError(f"Spot model not found: {path / 'spot.xml'} is missing; point MENAGERIE_ROOT at a "
                            f"directory holding {MENAGERIE_NAME}/spot.xml")
    return path


def _enum(name: str):
    import mujoco

    for enum in (mujoco.mjtSensor, mujoco.mjtObj):
        if hasattr(enum, name):
            return getattr(enum, name)
    raise KeyError(name)


def build_spot_spec(model_dir: Path | None = None, *, visual: bool = False):
    """The edited :class:`mujoco.MjSpec` (not compiled); see the module docstring."""
    import mujoco

    model_dir = model_dir or spot_model_dir()
    spec = mujoco.MjSpec.from_file(str(model_dir / "spot.xml"))
    spec.modelname = "spot_joystick_flat_terrain"
    spec.body("body").pos = [0.0, 0.0, 0.75]  # as spot_mjx_feetonly.xml (qpos0 only; episodes start at home)

    opt = spec.option
    opt.timestep = SIM_DT
    opt.iterations = 1
    opt.ls_iterations = 5
    opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    opt.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL
    opt.impratio = 1.0
    opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_EULERDAMP

    feet = set(FEET)
    for geom in list(spec.geoms):
        is_visual = geom.classname.name == "visual" or geom.group == 2
        if geom.name in feet:
            geom.type = mujoco.mjtGeom.mjGEOM_SPHERE
            geom.size = [FOOT_RADIUS, 0, 0]
            geom.pos = list(FOOT_POS)
            geom.condim = 1
            geom.contype, geom.conaffinity, geom.priority = 0, 1, 0
            geom.friction = [1.0, 0.005, 0.0001]
            geom.solref = [0.02, 1.0]
            geom.solimp = [0.9, 0.95, 0.036, 0.5, 2.0]
            geom.group = 3
        elif is_visual and visual:
            geom.contype = geom.conaffinity = 0
        else:  # non-foot collision meshes, and visual geoms unless rendering
            spec.delete(geom)
    used = {g.meshname for g in spec.geoms if g.meshname}
    for mesh in list(spec.meshes):
        if mesh.name not in used:
            spec.delete(mesh)
    if not visual:
        for material in list(spec.materials):
            spec.delete(material)

    for leg, foot in zip(LEGS, FEET):
        spec.body(f"{leg}_lleg").add_site(name=foot, pos=list(FOOT_POS), size=[FOOT_RADIUS, 0, 0], group=5)
    spec.body("body").add_site(name="imu", pos=[0, 0, 0])

    for joint in spec.joints:
        if joint.type == mujoco.mjtJoint.mjJNT_HINGE:
            joint.damping = [KD, 0.0, 0.0]
            joint.armature = ARMATURE
            joint.frictionloss = FRICTIONLOSS
            joint.actfrcrange = [-1000.0, 1000.0]
            joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for act in spec.actuators:
        act.gainprm[0] = KP
        act.biasprm[0], act.biasprm[1], act.biasprm[2] = 0.0, -KP, -KV

    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.01], contype=1,
                            conaffinity=0, priority=1, friction=[0.6, 0.005, 0.0001], condim=3)
    for key in list(spec.keys):
        if key.name != "home":
            spec.delete(key)

    for name, kind, objtype, objname, reftype, refname in _SENSORS:
        sensor = spec.add_sensor(name=name, type=_enum(kind), objtype=_enum(objtype), objname=objname)
        if reftype:
            sensor.reftype, sensor.refname = _enum(reftype), refname
    for foot in FEET:  # <contact geom1=foot geom2="floor" reduce="mindist" num="1" data="found"/>
        spec.add_sensor(name=f"{foot}_floor_found", type=mujoco.mjtSensor.mjSENS_CONTACT,
                        objtype=mujoco.mjtObj.mjOBJ_GEOM, objname=foot, reftype=mujoco.mjtObj.mjOBJ_GEOM,
                        refname="floor", intprm=[1, 1, 1])
    return spec


def build_spot_model(model_dir: Path | None = None, *, visual: bool = False):
    """Compile the Playground feet-only Spot joystick model; returns ``(MjModel, SpotModelInfo)``."""

    spec = build_spot_spec(model_dir, visual=visual)
    try:
        model = spec.compile()
    except ValueError as exc:
        hint = " (rendering needs the complete Menagerie model, e.g. without MENAGERIE_ROOT)" if visual else ""
        raise WmhubError(f"could not compile the Spot model: {exc}{hint}") from exc
    return model, model_info(model)


def model_info(model) -> SpotModelInfo:
    """Resolve sensor slices, foot sites and the ``home`` pose of a compiled model."""
    import mujoco

    sensor = {}
    for i in range(model.nsensor):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_SENSOR, i)
        sensor[name] = slice(int(model.sensor_adr[i]), int(model.sensor_adr[i] + model.sensor_dim[i]))
    home = model.keyframe("home").qpos.copy()
    return SpotModelInfo(
        sensor=sensor,
        foot_site=np.array([model.site(f).id for f in FEET]),
        body_id=model.body("body").id,
        home_qpos=home,
        default_pose=home[7:].copy(),
        ctrl_low=model.actuator_ctrlrange[:, 0].copy(),
        ctrl_high=model.actuator_ctrlrange[:, 1].copy(),
    )

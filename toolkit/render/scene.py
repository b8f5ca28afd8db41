"""Render one stored physics state at a time with ``mujoco.Renderer``, for reacher and Spot.

* reacher: dm_control's ``reacher-easy`` model, camera 0 (the fixed top-down camera), state
  ``qpos``, ``qvel``, ``target_pos``. The pixels equal those of
  :class:`~wmhub.render.reacher_frames.ReacherFrameRenderer` (which renders the stored
  ``frames-S`` configs through dm_control) under the same GL backend: both run MuJoCo's renderer on
  the same model, camera and state.
* Spot: Menagerie's Spot built by :func:`wmhub.envs.spot_model.build_spot_spec` with its visual
  geoms, plus a checker floor (the physics floor has no texture, so a following camera would show
  no motion), state ``qpos``, ``qvel``. The camera tracks the base (``mjCAMERA_TRACKING``: it keeps
  its distance and angles and moves with the body, no smoothing, so frame t depends on row t only).
  Shadows are off: in software rendering (EGL without a GPU, OSMesa) they cost ~10x the frame time.
  Visual meshes missing from a Menagerie copy (an offline copy may lack some) are left out and
  named in :attr:`SceneRenderer.notes`; a copy without the model raises the
  ``MENAGERIE_ROOT`` hint of :func:`~wmhub.envs.spot_model.spot_model_dir`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wmhub.errors import ConfigError, MissingDependencyError
from wmhub.render.gl_backend import select_render_backend

RENDERABLE_ENVS = ("reacher", "spot")
# the Spot camera: 3/4 view from behind-left, slightly above, 2.5 m from the base
SPOT_CAMERA = {"distance": 2.5, "azimuth": 135.0, "elevation": -20.0}


class SceneRenderer:
    """Frames ``uint8 [size, size, 3]`` of single physics states of one environment.

    Args:
        env: ``reacher`` or ``spot`` (the dataset's generator).
        size: frame height and width in pixels.

    Attributes:
        state_columns: the step columns :meth:`render` reads.
        notes: what the picture leaves out (e.g. a missing visual mesh), empty when nothing.

    Raises:
        ConfigError: another environment, or ``size`` not positive.
        MissingDependencyError: no headless OpenGL backend works (the message says what to install,
            or to set ``MUJOCO_GL=egl`` / ``MUJOCO_GL=osmesa``).
        NotFoundError: Spot, and Menagerie's Spot model is not found (``MENAGERIE_ROOT`` hint).

    Example:
        >>> renderer = SceneRenderer("reacher", 64)  # doctest: +SKIP
        >>> renderer.render({"qpos": qpos[t], "qvel": qvel[t], "target_pos": target[t]}).shape  # doctest: +SKIP
        (64, 64, 3)
    """

    def __init__(self, env: str, size: int) -> None:
        if env not in RENDERABLE_ENVS:
            raise ConfigError(f"cannot render {env!r} datasets; rendering knows {', '.join(RENDERABLE_ENVS)}")
        if size <= 0:
            raise ConfigError(f"--size must be positive, got {size}")
        backend = select_render_backend()
        try:
            import mujoco
        except Exception as exc:  # mujoco refuses an unknown MUJOCO_GL, or its GL library fails to load
            raise MissingDependencyError(_gl_hint(backend, exc)) from exc

        self._mj = mujoco
        self.env = env
        self.size = size
        self.notes: list[str] = []
        if env == "reacher":
            self.model = _reacher_model()
            self.state_columns = ("qpos", "qvel", "target_pos")
            self._target = self.model.geom("target").id
            self.camera: int | object = 0
        else:
            self.model, missing = _spot_render_model()
            if missing:
                self.notes.append(f"the Menagerie copy lacks visual mesh(es) {', '.join(missing)}; rendered "
                                  "without them (a complete copy: unset MENAGERIE_ROOT to let mujoco_menagerie "
                                  "download it)")
            self.state_columns = ("qpos", "qvel")
            camera = mujoco.MjvCamera()
            camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
            camera.trackbodyid = self.model.body("body").id
            camera.distance = SPOT_CAMERA["distance"]
            camera.azimuth = SPOT_CAMERA["azimuth"]
            camera.elevation = SPOT_CAMERA["elevation"]
            self.camera = camera
        offscreen = self.model.vis.global_
        offscreen.offwidth = max(int(offscreen.offwidth), size)
        offscreen.offheight = max(int(offscreen.offheight), size)
        self.data = mujoco.MjData(self.model)
        self.renderer = _open_renderer(self.model, size)
        if env == "spot":  # shadows of Spot's lights cost ~10x the frame time in software rendering
            self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False

    def render(self, state: dict[str, np.ndarray]) -> np.ndarray:
        """The frame of one row's physics state.

        Args:
            state: the row's values of :attr:`state_columns`.

        Returns:
            ``uint8 [size, size, 3]``.
        """
        data = self.data
        data.qpos[:] = state["qpos"]
        data.qvel[:] = state["qvel"]
        if self.env == "reacher":
            self.model.geom_pos[self._target, :2] = state["target_pos"]
        self._mj.mj_forward(self.model, data)
        self.renderer.update_scene(data, camera=self.camera)
        return self.renderer.render()

    def close(self) -> None:
        """Release the GL context now (avoids noisy teardown at interpreter exit)."""
        self.renderer.close()


def _gl_hint(backend: str, exc: BaseException) -> str:
    return (f"no OpenGL context with MUJOCO_GL={backend} ({type(exc).__name__}: {exc}); set MUJOCO_GL=egl "
            "(a GPU, or Mesa's EGL: apt-get install libegl1 libgl1-mesa-dri) or MUJOCO_GL=osmesa (software: "
            "apt-get install libosmesa6)")


def _open_renderer(model, size: int):
    """A ``mujoco.Renderer`` of ``size`` pixels, or the error that says which ``MUJOCO_GL`` to set."""
    import os

    import mujoco

    try:
        return mujoco.Renderer(model, size, size)
    except Exception as exc:  # FatalError, AttributeError of a missing GL platform, ...
        raise MissingDependencyError(_gl_hint(os.environ.get("MUJOCO_GL", ""), exc)) from exc


def _reacher_model():
    """A private copy of dm_control's reacher-easy model (the renderer moves its target geom)."""
    import copy

    from wmhub.envs.reacher import make_env

    physics = make_env().physics
    try:
        return copy.copy(physics.model._model)
    finally:
        physics.free()


def _spot_render_model():
    """Spot with visual geoms and a checker floor; returns ``(MjModel, names of missing visual meshes)``."""
    import mujoco

    from wmhub.envs.spot_model import build_spot_spec, spot_model_dir

    model_dir = spot_model_dir()  # NotFoundError with the MENAGERIE_ROOT hint
    spec = build_spot_spec(model_dir, visual=True)
    mesh_dir = Path(model_dir) / (spec.meshdir or "")
    missing = sorted(m.name for m in spec.meshes if m.file and not (mesh_dir / m.file).is_file())
    if missing:
        for geom in list(spec.geoms):
            if geom.meshname in missing:
                spec.delete(geom)
        for mesh in list(spec.meshes):
            if mesh.name in missing:
                spec.delete(mesh)
    spec.add_texture(name="wmhub_grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, rgb1=[0.2, 0.3, 0.4], rgb2=[0.1, 0.2, 0.3],
                     mark=mujoco.mjtMark.mjMARK_EDGE, markrgb=[0.8, 0.8, 0.8], width=300, height=300)
    material = spec.add_material(name="wmhub_grid", texrepeat=[1, 1], texuniform=True, reflectance=0.0)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "wmhub_grid"
    spec.add_texture(name="wmhub_sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=[0.3, 0.5, 0.7], rgb2=[0.0, 0.0, 0.0],
                     width=512, height=3072)
    floor = spec.geom("floor")
    floor.material = "wmhub_grid"
    floor.size = [0.0, 0.0, 0.05]
    spec.worldbody.add_light(name="wmhub_sun", pos=[0.0, 0.0, 4.0], dir=[0.0, 0.0, -1.0],
                             type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=False, diffuse=[0.4, 0.4, 0.4])
    try:
        model = spec.compile()
    except ValueError as exc:
        raise ConfigError(f"could not compile Spot with its visual geoms for rendering: {exc}; point "
                          "MENAGERIE_ROOT at a complete Menagerie copy, or unset it to let mujoco_menagerie "
                          "download one") from exc
    return model, missing

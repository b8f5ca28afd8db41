"""Choose a working headless OpenGL backend for MuJoCo (EGL, then OSMesa).

dm_control reads ``MUJOCO_GL`` when it is first imported, so the choice is
made before that, by probing each backend in a short subprocess (a failed
probe cannot leave a broken GL state in this process). The user's own
``MUJOCO_GL`` always wins.
"""

from __future__ import annotations

import os
import subprocess
import sys

from wmhub.errors import MissingDependencyError

_PROBE = ("import numpy, mujoco;"
          "m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><geom size=\"1\"/></worldbody></mujoco>');"
          "r = mujoco.Renderer(m, 8, 8); d = mujoco.MjData(m); mujoco.mj_forward(m, d);"
          "r.update_scene(d); r.render(); r.close()")
_HINT = ("no headless OpenGL backend works: install EGL (Debian/Ubuntu: apt-get install libegl1 "
         "libgl1-mesa-dri) or OSMesa (apt-get install libosmesa6) and retry, or set MUJOCO_GL yourself "
         "(MUJOCO_GL=egl or MUJOCO_GL=osmesa)")


def backend_works(name: str) -> bool:
    """True if MuJoCo can render offscreen with backend ``name`` (probed in a subprocess).

    Args:
        name: ``egl`` or ``osmesa``.

    Returns:
        Whether a tiny scene renders with it.

    Example:
        >>> backend_works("egl")  # doctest: +SKIP
        True
    """
    env = {**os.environ, "MUJOCO_GL": name, "PYOPENGL_PLATFORM": name}
    result = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120)
    return result.returncode == 0


def select_render_backend() -> str:
    """Set and return ``MUJOCO_GL`` for rendering (the user's own value wins).

    Returns:
        The backend's name (``egl``, ``osmesa`` or the user's ``MUJOCO_GL``).

    Raises:
        MissingDependencyError: no headless OpenGL backend works (the message names the packages).

    Example:
        >>> select_render_backend()  # doctest: +SKIP
        'egl'
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        return chosen
    for name in ("egl", "osmesa"):
        if backend_works(name):
            os.environ["MUJOCO_GL"] = name
            os.environ.setdefault("PYOPENGL_PLATFORM", name)
            return name
    raise MissingDependencyError(_HINT)

#!/usr/bin/env bash
# Run on the CPU machine, once, before the GPU run (the kit is gitignored and reused):
#   bash benchmarks/gpu_session/prepare.sh
# It fills .device-kit/ (gitignored, ~49 MB) with what a bare GPU machine image lacks for the GPU run
# (benchmarks/gpu_session/gpu_run.py: encoding, rendering, the Spot world models; see README.md):
#   wheels/     CPython 3.12 x86_64 wheels, at requirements.lock's versions, of the packages the
#               machine's image does not hold (the image has torch, numpy, pyarrow, pandas, ...);
#               transformers at the locked version (the image's is older), and dm_control without
#               the assets of the domains and tests that reacher does not use (56 MB -> 1 MB)
#   gl/         the GL loader libraries (glvnd's libEGL, libOpenGL, ...) as Debian packages, unpacked
#               there by run.sh only when the image has no libEGL.so.1 (skipped where apt-get is absent)
#   menagerie/  Menagerie's Spot for physics only: spot.xml, scene.xml, LICENSE and the collision
#               meshes; the visual meshes (40 MB) are removed from the model before it compiles
#               (toolkit/envs/spot_model.py), so the data are the same bytes as with the full copy.
# The kit is built in .device-kit.tmp and renamed when complete. KIT_PYTHON=3.11 makes one for a
# local rehearsal of run.sh (the image's Python is 3.12).
set -euo pipefail
cd "$(dirname "$0")/../.."
MENAGERIE="${MENAGERIE_ROOT:-../shared/menagerie}"
SPOT="$MENAGERIE/boston_dynamics_spot"
[ -f "$SPOT/spot.xml" ] || { echo "no Spot model at $SPOT/spot.xml: set MENAGERIE_ROOT" >&2; exit 1; }

# the import closure of `wmhub generate spot|reacher`, `wmhub encode`, `wmhub train` and `wmhub eval` on
# Spot, less the image's
PACKAGES="mujoco mujoco_menagerie glfw PyOpenGL websockets datasets dill multiprocess fsspec webdataset
braceexpand pydantic pydantic_core annotated-types typing-inspection typing_extensions huggingface_hub
httpx2 httpcore2 truststore transformers dm_control dm-env dm-tree"
PINS=$(python3 - "$PACKAGES" <<'PY'
import re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
lock = {norm(l.split("==")[0]): l.strip() for l in open("requirements.lock") if "==" in l and not l.startswith("#")}
missing = [n for n in sys.argv[1].split() if norm(n) not in lock]
if missing:
    sys.exit(f"requirements.lock pins none of {missing}: run `make lock`, or drop them from prepare.sh")
print(" ".join(lock[norm(n)] for n in sys.argv[1].split()))
PY
)

rm -rf .device-kit.tmp
mkdir -p .device-kit.tmp/wheels .device-kit.tmp/menagerie/boston_dynamics_spot/assets
cp "$SPOT/LICENSE" "$SPOT/spot.xml" "$SPOT/scene.xml" .device-kit.tmp/menagerie/boston_dynamics_spot/
cp "$SPOT"/assets/*_collision.obj .device-kit.tmp/menagerie/boston_dynamics_spot/assets/
PLATFORMS=""
for n in 17 24 27 28 31 34; do PLATFORMS="$PLATFORMS --platform manylinux_2_${n}_x86_64"; done
# shellcheck disable=SC2086
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "${KIT_PYTHON:-3.12}" --implementation cp \
    $PLATFORMS --platform manylinux2014_x86_64 --platform any -d .device-kit.tmp/wheels $PINS
# dm_control without what reacher never reads (locomotion walkers / arenas / soccer, the dog's assets,
# tests, the Blender exporter): RECORD loses the same entries, so the wheel stays consistent
python3 - .device-kit.tmp/wheels/dm_control-*.whl <<'PY'
import os, sys, zipfile
DROP = ("dm_control/locomotion/soccer/", "dm_control/locomotion/walkers/", "dm_control/locomotion/arenas/",
        "dm_control/suite/dog_assets/", "dm_control/mujoco/testing/", "dm_control/blender/",
        "dm_control/mjcf/test_assets/", "dm_control/suite/all_domains.png")
src = sys.argv[1]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(src + ".tmp", "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        if info.filename.startswith(DROP):
            continue
        data = zin.read(info)
        if info.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(True) if not line.decode().startswith(DROP))
        zout.writestr(info, data)
os.replace(src + ".tmp", src)
PY
mkdir -p .device-kit.tmp/gl
if command -v apt-get >/dev/null; then
  (cd .device-kit.tmp/gl && apt-get -q -oAPT::Architecture=amd64 download libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
       libgles2 >/dev/null 2>&1) || echo "warning: the GL loader packages could not be downloaded; gl/ is empty" >&2
fi
rm -rf .device-kit
mv .device-kit.tmp .device-kit
echo "kit ready: $(ls .device-kit/wheels | wc -l) wheels, $(du -sh .device-kit | cut -f1) in .device-kit/"

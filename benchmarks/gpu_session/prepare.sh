#!/usr/bin/env bash
# Run HERE (the CPU machine), once per session, before the first device call:
#   bash benchmarks/gpu_session/prepare.sh
# It fills .device-kit/ (gitignored, ~15 MB) with what a bare GPU machine image lacks for the Spot
# world-model benchmarks (see benchmarks/gpu_session/README.md):
#   wheels/     CPython 3.12 x86_64 wheels, at requirements.lock's versions, of the packages the
#               machine's image does not hold (the image has torch, numpy, pyarrow, pandas, ...)
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

# the import closure of `wmhub generate spot`, `wmhub train` and `wmhub eval` on Spot, less the image's
PACKAGES="mujoco mujoco_menagerie glfw PyOpenGL websockets datasets dill multiprocess fsspec webdataset
braceexpand pydantic pydantic_core annotated-types typing-inspection typing_extensions huggingface_hub
httpx2 httpcore2 truststore"
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
rm -rf .device-kit
mv .device-kit.tmp .device-kit
echo "kit ready: $(ls .device-kit/wheels | wc -l) wheels, $(du -sh .device-kit | cut -f1) in .device-kit/"

#!/usr/bin/env bash
# Run ON THE GPU MACHINE, from the repository root, with .device-kit copied beside the working tree
# (make it first with benchmarks/gpu_session/prepare.sh), under a 540 s (9 minute) limit:
#   bash benchmarks/gpu_session/run.sh
# It installs the kit's wheels and wmhub into /tmp/site (the image's torch stays), unpacks the kit's GL
# loaders when the image has no libEGL, records the environment, and runs benchmarks/gpu_session/gpu_run.py:
# (b) reacher rendering on all cores, (a) `wmhub encode` with a ViT-L-sized V-JEPA 2 of random weights,
# (c) the 10M / 100M / 300M Spot world models sized to what is left, (d) DDP scaling on >1 GPU. The clock starts at the top of
# this script, so the install counts against the budget. What it writes under $OUT comes back:
# log.txt, env.txt, results.json, table.md.
# Environment knobs: TOTAL_SECONDS=525 (the script's budget: the call's limit less 15 s),
#   PARTS="render encode world_models ddp", REHEARSE=1 (CPU, tiny sizes: the rehearsal; TOTAL_SECONDS then 55).
set -euo pipefail
start=$(date +%s)
OUT="${OUT:-runs/gpu_session_out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
KIT=.device-kit
[ -d "$KIT/wheels" ] || { echo "no $KIT/wheels: run benchmarks/gpu_session/prepare.sh here and carry .device-kit" >&2; exit 2; }
PY="${PYTHON:-python3}"
SITE="${SITE:-/tmp/site}"
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$KIT"/wheels/*.whl
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade --target "$SITE" .
export PYTHONPATH="$SITE" MENAGERIE_ROOT="$PWD/$KIT/menagerie" HF_HUB_DISABLE_XET=1 PYTHONUNBUFFERED=1 MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' && ls "$KIT"/gl/*.deb >/dev/null 2>&1; then
  for f in "$KIT"/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  echo "GL loaders unpacked from the kit"
fi
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && ! ls /usr/share/glvnd/egl_vendor.d/*nvidia*.json >/dev/null 2>&1; then
  vendor=$(find /usr /etc /opt -maxdepth 7 -path '*egl_vendor.d/*nvidia*.json' 2>/dev/null | head -1 || true)
  [ -n "$vendor" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$vendor" && echo "EGL vendor file: $vendor"
fi
echo "installed in $(( $(date +%s) - start )) s"
{ (cd /tmp && "$PY" -c "import sys, torch, mujoco, transformers, dm_control, datasets, huggingface_hub, wmhub; print(sys.version); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else ''); print('mujoco', mujoco.__version__, 'transformers', transformers.__version__, 'datasets', datasets.__version__, 'hub', huggingface_hub.__version__, 'wmhub from', wmhub.__file__)")
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  echo "cores $(nproc)"; } | tee "$OUT/env.txt"
REHEARSE_FLAG=()
TOTAL="${TOTAL_SECONDS:-525}"
if [ "${REHEARSE:-0}" = 1 ]; then REHEARSE_FLAG=(--rehearse); TOTAL="${TOTAL_SECONDS:-55}"; fi
# shellcheck disable=SC2086
"$PY" benchmarks/gpu_session/gpu_run.py "${REHEARSE_FLAG[@]}" --out "$OUT" --started-at "$start" \
    --total-seconds "$TOTAL" --parts ${PARTS:-render encode world_models ddp}
echo "done in $(( $(date +%s) - start )) s"

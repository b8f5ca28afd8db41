#!/usr/bin/env bash
# Run ON THE GPU MACHINE, from the repository root, with .device-kit copied beside the working tree
# (make it first with benchmarks/gpu_session/prepare.sh), under a 590 s limit:
#   bash benchmarks/gpu_session/run.sh
# It installs the kit's wheels and wmhub into /tmp/site (the image's torch stays), generates the first
# EPISODES episodes of the 50-hour Spot dataset on all cores, and runs benchmarks/world_model_sizes.py
# over the 10M / 100M / 300M recipes with a budget fitted to FIT_SECONDS of training in all. What it
# writes under $OUT comes back: log.txt, results.json, table.md, env.txt.
# Environment knobs (defaults sized for one 10-minute call on an H200; unmeasured until a run says):
#   EPISODES=2000  FIT_SECONDS=200  BATCH=512  PILOT_STEPS=40  WORKERS=$(nproc)
set -euo pipefail
OUT="${OUT:-runs/gpu_session_out}"
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
KIT=.device-kit
[ -d "$KIT/wheels" ] || { echo "no $KIT/wheels: run benchmarks/gpu_session/prepare.sh here and carry .device-kit" >&2; exit 2; }
PY="${PYTHON:-python3}"
start=$(date +%s)
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$KIT"/wheels/*.whl
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --upgrade --target /tmp/site .
export PYTHONPATH=/tmp/site MENAGERIE_ROOT="$PWD/$KIT/menagerie" HF_HUB_DISABLE_XET=1 PYTHONUNBUFFERED=1 MUJOCO_GL=egl
echo "installed in $(( $(date +%s) - start )) s"
{ (cd /tmp && "$PY" -c "import sys, torch, mujoco, datasets, huggingface_hub, wmhub; print(sys.version); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else ''); print('mujoco', mujoco.__version__, 'datasets', datasets.__version__, 'hub', huggingface_hub.__version__, 'wmhub from', wmhub.__file__)")
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  echo "cores $(nproc)"; } | tee "$OUT/env.txt"
EPISODES="${EPISODES:-2000}"
"$PY" benchmarks/world_model_sizes.py --recipes spot_world_model_10m spot_world_model_100m spot_world_model_300m \
    --fit-seconds "${FIT_SECONDS:-200}" --pilot-steps "${PILOT_STEPS:-40}" --episodes "$EPISODES" \
    --workers "${WORKERS:-$(nproc)}" --batch-size "${BATCH:-512}" --val-fraction 0.05 --stride 10 \
    --device "${DEVICE:-cuda}" --out runs/world_model_sizes_gpu --quiet | tee "$OUT/stdout.txt"
cp runs/world_model_sizes_gpu/results.json "$OUT/results.json"
sed -n '/^| recipe/,$p' "$OUT/stdout.txt" > "$OUT/table.md"
echo "done in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Train the detector on a GPU machine that has python3 with torch but no renderer (open3d,
# ifcopenshell) and no package index: the dataset is rendered beforehand, on any machine, with
#   sitetwin train-detector --config gpu --seed S --render-to DATASET
# and travels with this script, as do ultralytics' wheels in WHEELS (pip download, docs/detector.md).
#
#   scripts/train_on_gpu.sh DATASET OUT_WEIGHTS HOURS [START_FROM] [SEED]
#
# Writes OUT_WEIGHTS and its training record OUT_WEIGHTS.json (vision.train.fit_detector).
set -euo pipefail
dataset=$1 out=$2 hours=$3 start_from=${4:-} seed=${5:-0}
wheels=${WHEELS:-.whl}
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
# ultralytics reads its results.csv back with polars (a 54 MB wheel) and, failing, trains on
# without the record; an empty module stands in for it here.
mkdir -p "$site/polars" && touch "$site/polars/__init__.py"
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >&2 || true
python3 - "$dataset" "$out" "$hours" "$start_from" "$seed" <<'PY'
import json, sys
from vision.train import fit_detector, settings_for
dataset, out, hours, start_from, seed = sys.argv[1:]
result = fit_detector(out, dataset, settings_for("gpu"), seed=int(seed), start_from=start_from or None,
                      hours=float(hours))
print(json.dumps(result.as_dict()))
PY

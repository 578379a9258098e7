#!/usr/bin/env bash
# make demo: on the embedded defaults, build a sample building with its 4D schedule, ingest it,
# and simulate weekly helmet-camera walks through it as built on three dates.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${SITETWIN_DATA_DIR:-instance}
PROJECT="Sample building"

mkdir -p "$DATA/demo"
$BIN/sitetwin db upgrade
$BIN/sitetwin generate-building "$DATA/demo/sample.ifc" --storeys 2 --bays 3 2 --seed 0
$BIN/sitetwin ingest "$DATA/demo/sample.ifc" --project "$PROJECT"
for date in 2027-01-25 2027-02-08 2027-02-22; do
    $BIN/sitetwin simulate-capture --project "$PROJECT" --date "$date" --storey "Level 0" --frames 8 \
        --seed "${date//-/}" --out "$DATA/demo/walk-$date"
done
echo "demo: sample twin and three simulated walks are in $DATA/demo/"

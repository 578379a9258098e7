#!/usr/bin/env bash
# make demo: on the embedded defaults, build a sample building with its 4D schedule, ingest it,
# import its schedule, simulate three weekly helmet-camera walks, process them through the
# detector, registration and fusion, and print the progress report.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${SITETWIN_DATA_DIR:-instance}
PROJECT="Sample building"

mkdir -p "$DATA/demo"
$BIN/sitetwin db upgrade
$BIN/sitetwin generate-building "$DATA/demo/sample.ifc" --storeys 2 --bays 3 2 --seed 0
$BIN/sitetwin ingest "$DATA/demo/sample.ifc" --project "$PROJECT"
$BIN/sitetwin schedule import "$DATA/demo/sample.ifc" --project "$PROJECT"
for date in 2027-01-25 2027-02-08 2027-02-22; do
    $BIN/sitetwin simulate-capture --project "$PROJECT" --date "$date" --storey "Level 0" --frames 6 \
        --width 1024 --seed "${date//-/}" --out "$DATA/demo/walk-$date"
    $BIN/sitetwin process "$DATA/demo/walk-$date" --project "$PROJECT"
done
$BIN/sitetwin progress --project "$PROJECT" --date 2027-02-22
echo "demo: the sample twin, its walks and their results are in $DATA/ (the dashboard comes with the web issue)"

#!/usr/bin/env bash
# make demo: on the embedded defaults, build a sample building whose 4D schedule started six weeks
# ago, ingest it, import its schedule, simulate three weekly helmet-camera walks, process them
# through the detector, registration and fusion, and serve the dashboard. A second run reuses the
# sample and only serves (delete $DATA/demo to start again).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=${SITETWIN_DATA_DIR:-instance}
PROJECT="Sample building"
EMAIL=demo@sitetwin.example
PASSWORD=sitetwin-demo
HOST=${SITETWIN_DEMO_HOST:-127.0.0.1}
PORT=${SITETWIN_DEMO_PORT:-5000}

days_ago() { "$BIN/python" -c "import datetime as d, sys; print(d.date.today() - d.timedelta(days=int(sys.argv[1])))" "$1"; }

mkdir -p "$DATA/demo"
if [[ ! -f $DATA/demo/.built ]]; then
    $BIN/sitetwin db upgrade
    $BIN/sitetwin generate-building "$DATA/demo/sample.ifc" --storeys 2 --bays 3 2 --seed 0 --start "$(days_ago 42)"
    $BIN/sitetwin ingest "$DATA/demo/sample.ifc" --project "$PROJECT"
    $BIN/sitetwin schedule import "$DATA/demo/sample.ifc" --project "$PROJECT"
    for ago in 21 14 7; do
        date=$(days_ago "$ago")
        $BIN/sitetwin simulate-capture --project "$PROJECT" --date "$date" --storey "Level 0" --frames 6 \
            --width 1024 --seed "$ago" --out "$DATA/demo/walk-$date"
        $BIN/sitetwin process "$DATA/demo/walk-$date" --project "$PROJECT"
    done
    $BIN/sitetwin user create --email "$EMAIL" --password "$PASSWORD" --name "Demo site manager" \
        --project "$PROJECT" --role manager
    $BIN/sitetwin progress --project "$PROJECT"
    touch "$DATA/demo/.built"
fi
echo
echo "demo: open http://$HOST:$PORT/ and sign in as $EMAIL / $PASSWORD"
echo
exec $BIN/sitetwin serve --host "$HOST" --port "$PORT"

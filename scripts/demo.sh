#!/usr/bin/env bash
# make demo: build the sample twin on the embedded defaults and show what SiteTwin made of it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SHARED=../shared/ifc

$BIN/sitetwin db upgrade
sample=${SITETWIN_DEMO_MODEL:-$SHARED/AC20-FZK-Haus.ifc}
if [[ ! -f $sample ]]; then
    echo "demo: no sample model at $sample (set SITETWIN_DEMO_MODEL to an IFC file)" >&2
    exit 1
fi
$BIN/sitetwin ingest "$sample" --project "Demo"
echo "demo: twin stored in ${SITETWIN_DATA_DIR:-instance}/ (database, twins/, models/)"

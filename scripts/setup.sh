#!/usr/bin/env bash
# Idempotent set-up for `make test` / `make demo`: Debian libraries, the .venv, torch, the project.
# A second run skips every step that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# open3d needs libusb and libgomp; opencv needs libGL and glib; the browser tests drive Debian's
# chromium (Playwright is pointed at /usr/bin/chromium: nothing downloads a browser); docker-compose
# validates docker-compose.yml in the suite (no Docker engine is needed for that).
DEB_PACKAGES=(libusb-1.0-0 libgomp1 libgl1 libglib2.0-0 chromium docker-compose)
# The 3D viewer's bundle is built with Node.js and npm; Debian's nodejs serves when none is installed.
command -v npm >/dev/null || DEB_PACKAGES+=(nodejs npm)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
        echo "setup: installing Debian packages: ${missing[*]}" >&2
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    else
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: install them first: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

if [[ ! -x $VENV/bin/python ]]; then
    echo "setup: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >&2
fi

# torch first, pinned: ultralytics would otherwise pull whatever torch the index offers.
if ! "$VENV/bin/python" -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1')" 2>/dev/null; then
    echo "setup: installing torch 2.14.1 / torchvision 0.29.1" >&2
    "$VENV/bin/pip" install -q torch==2.14.1 torchvision==0.29.1 >&2
fi

# The project itself (editable, with test extras). The stamp records pyproject's hash.
stamp=$VENV/.sitetwin-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "setup: installing sitetwin and its dependencies" >&2
    "$VENV/bin/pip" install -q -e ".[dev]" >&2
    echo "$want" > "$stamp"
fi

# The browser bundles (three.js and the 3D twin viewer), built from webapp/frontend into webapp/static/dist:
# pages never fetch a script from a CDN. Rebuilt when the lock file or a source is newer than the bundle.
FRONTEND=webapp/frontend
BUNDLE=webapp/static/dist/twin3d.js
if [[ ! -f $BUNDLE || -n $(find "$FRONTEND/package.json" "$FRONTEND/package-lock.json" "$FRONTEND/src" \
        -newer "$BUNDLE" -print -quit) ]]; then
    for tool in node npm; do
        if ! command -v "$tool" >/dev/null; then
            echo "setup: '$tool' is missing: the 3D twin viewer is built with Node.js 20+ and npm" >&2
            echo "setup: install them first: sudo apt-get install nodejs npm" >&2
            exit 1
        fi
    done
    echo "setup: building the browser bundles in $FRONTEND" >&2
    (cd "$FRONTEND" && npm ci --no-audit --no-fund >&2 && npm run build >&2)
fi

"""The built 3D twin viewer in a real browser: it loads a storey GLB from twin.gltf, colours nodes by
status, and a click on an element opens that element's page.

Needs the bundle (scripts/setup.sh builds webapp/static/dist/twin3d.js) and a Chromium (Debian's
``chromium``, or ``SITETWIN_CHROMIUM``); skipped without them. Served as static files: no Flask here.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import shutil
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from tests.ifc_factory import make_room
from twin.gltf import storey_glb, storey_rows
from twin.model import build_twin

BUNDLE = Path(__file__).resolve().parents[2] / "webapp" / "static" / "dist" / "twin3d.js"
COLORS = {"installed": "#2e7d32", "in_progress": "#f9a825", "not_started": "#c62828"}
PAGE = """<!doctype html><html><body style="margin:0">
<div id="twin" style="width:800px;height:600px"></div>
<script src="twin3d.js"></script>
<script>
SiteTwin3D.mount(document.getElementById("twin"),
                 {glbUrl: "storey.glb", statusUrl: "status.json", elementUrl: "element.html?gid=__GID__"});
</script></body></html>"""

MESH_AT = "([x, y]) => { const mesh = SiteTwin3D.viewer.meshAt(x, y); return mesh && mesh.name; }"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A static site with the bundle, the room's storey GLB and a status map.

    Yields (base URL, twin, rows, status JSON)."""
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE} is not built: run scripts/setup.sh (npm run build in webapp/frontend)")
    root = tmp_path_factory.mktemp("site")
    twin = build_twin(make_room(), threads=1)
    rows = storey_rows(twin, twin.storeys[0].global_id)
    gids = [twin.elements[r].global_id for r in rows]
    # Every status once or twice, one status not in "colors" and one element left out: both grey.
    statuses = ["installed", "installed", "in_progress", "not_started", "demolished"]
    status = {"colors": COLORS, "elements": dict(zip(gids, statuses, strict=False))}
    shutil.copy(BUNDLE, root / "twin3d.js")
    (root / "storey.glb").write_bytes(storey_glb(twin, rows))
    (root / "status.json").write_text(json.dumps(status))
    (root / "index.html").write_text(PAGE)
    (root / "element.html").write_text("<!doctype html><title>element</title>")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", twin, rows, status
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser, site):
    """The viewer page, loaded (the GLB and the statuses are in), with no script error."""
    page = browser.new_page(viewport={"width": 800, "height": 600})
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site[0]}/index.html")
    page.wait_for_function("window.SiteTwin3D.state.loaded || window.SiteTwin3D.state.error", timeout=30_000)
    assert errors == []
    yield page
    page.close()


def test_every_element_of_the_storey_is_a_node(page, site):
    _, _, rows, _ = site
    state = page.evaluate("window.SiteTwin3D.state")
    assert state["error"] is None
    assert state["nodes"] == len(rows)


def test_nodes_are_coloured_by_status_and_unknown_ones_grey(page, site):
    _, _, rows, status = site
    known = [s for s in status["elements"].values() if s in status["colors"]]
    expected = {s: known.count(s) for s in set(known)}
    expected["unknown"] = len(rows) - len(known)
    assert page.evaluate("window.SiteTwin3D.state.colored") == expected


def test_the_canvas_shows_the_status_colours(page):
    from PIL import Image

    png = page.locator("#twin canvas").screenshot()
    shot = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), np.int64)
    r, g, b = shot[..., 0], shot[..., 1], shot[..., 2]
    background = (np.abs(shot - [0xF4, 0xF5, 0xF7]).sum(axis=-1) < 6).mean()
    assert background < 0.95, "the storey covers part of the view"
    assert ((g > r + 30) & (g > b + 30)).sum() > 50, "installed elements are green"
    assert ((r > g + 60) & (r > b + 60)).sum() > 50, "not-started elements are red"


def test_a_click_on_an_element_opens_its_page(page, site):
    _, twin, rows, _ = site
    for row in rows:
        gid = twin.elements[row].global_id
        if not page.evaluate("gid => window.SiteTwin3D.pick(gid)", gid):
            continue
        point = page.evaluate("gid => window.SiteTwin3D.screenPoint(gid)", gid)
        hovered = page.evaluate(MESH_AT, [point["x"], point["y"]])
        if hovered != gid:
            continue  # another element is in front of this one's centre
        with page.expect_navigation():
            page.mouse.click(point["x"], point["y"])
        assert urllib.parse.unquote(page.url).endswith(f"element.html?gid={gid}")
        return
    pytest.fail("no element's centre is visible to click on")

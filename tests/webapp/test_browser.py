"""The product in a real browser (Playwright driving Debian's chromium) against a live server:
sign in, upload a simulated walk through the API as a camera would, watch it process on the
captures page, see the floor plan and the 3D view change colour, open an element's evidence.

Screenshots go to ``$SITETWIN_SCREENSHOT_DIR`` (default: the test's temporary folder); the ones
in docs/ and the README come from this test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import dispose, make_app
from twin.generate import generate_building

pytestmark = pytest.mark.slow

BUNDLE = Path(__file__).resolve().parents[2] / "webapp" / "static" / "dist" / "twin3d.js"
EMAIL, PASSWORD = "manager@site.example", "a long demo password"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A server on loopback with a project whose model and schedule are in, no capture processed yet,
    and a simulated walk of last week waiting on disk. Yields (base URL, project id, storey id, token, walk)."""
    if not BUNDLE.is_file():
        pytest.fail(f"{BUNDLE} is not built: scripts/setup.sh builds it (make test runs it)")
    folder = tmp_path_factory.mktemp("live")
    app = make_app(f"sqlite:///{folder / 'db.sqlite3'}", folder / "data", SITETWIN_JOBS="thread")
    runner = app.test_cli_runner()

    def cli(*args):
        result = runner.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.stdout

    today = dt.date.today()
    generate_building(folder / "b.ifc", storeys=1, bays=(2, 2), seed=4, start=today - dt.timedelta(days=30))
    cli("ingest", str(folder / "b.ifc"), "--project", "Site")
    cli("schedule", "import", str(folder / "b.ifc"), "--project", "Site")
    cli("user", "create", "--email", EMAIL, "--password", PASSWORD, "--name", "Maria", "--project", "Site",
        "--role", "manager")
    token = json.loads(cli("token", "create", "--project", "Site", "--name", "helmet-01", "--json"))["token"]
    walk = folder / "walk"
    cli("simulate-capture", "--project", "Site", "--date", (today - dt.timedelta(days=7)).isoformat(),
        "--frames", "4", "--width", "768", "--seed", "3", "--out", str(walk))
    from webapp.extensions import db
    from webapp.models import Project, Storey

    with app.app_context():
        project = db.session.query(Project).filter_by(name="Site").one()
        storey = db.session.query(Storey).filter_by(revision_id=project.revisions[-1].id).one()
        ids = project.id, storey.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", *ids, token, walk
    server.shutdown()
    dispose(app)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("SITETWIN_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def api(base: str, token: str, method: str, path: str, body: bytes | None = None, content_type: str | None = None):
    request = urllib.request.Request(f"{base}/api/v1{path}", data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              **({"Content-Type": content_type} if content_type else {})})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload_walk(base: str, token: str, walk: Path) -> int:
    manifest = json.loads((walk / "capture.json").read_text())
    status, capture = api(base, token, "POST", "/captures", json.dumps(manifest).encode(), "application/json")
    assert status == 201
    for index, frame in enumerate(manifest["frames"]):
        body, content_type = multipart(Path(frame["file"]).name, (walk / frame["file"]).read_bytes())
        assert api(base, token, "PUT", f"/captures/{capture['id']}/frames/{index}", body, content_type)[0] == 201
        if index == 0:  # a camera on a bad network sends the same frame twice: still one frame
            assert api(base, token, "PUT", f"/captures/{capture['id']}/frames/0", body, content_type)[1]["duplicate"]
    assert api(base, token, "POST", f"/captures/{capture['id']}/finalise")[0] == 202
    return capture["id"]


def plan_statuses(page) -> dict[str, int]:
    page.wait_for_selector("#plan[data-state=ready]", timeout=30_000)
    return page.evaluate("""() => { const n = {}; document.querySelectorAll('#plan [data-status]')
        .forEach(p => { n[p.dataset.status] = (n[p.dataset.status] || 0) + 1; }); return n; }""")


def wait_until(page, expression: str, timeout: float = 60.0) -> None:
    """Poll ``expression`` until it is truthy. Not page.wait_for_function: its predicate is eval'd in
    the page, which the dashboard's Content-Security-Policy (script-src 'self') refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


def viewer_colours(page) -> dict[str, int]:
    wait_until(page, "window.SiteTwin3D && SiteTwin3D.state && (SiteTwin3D.state.loaded || SiteTwin3D.state.error)")
    state = page.evaluate("SiteTwin3D.state")
    assert state["error"] is None
    return state["colored"]


def test_a_site_manager_watches_an_uploaded_walk_turn_into_progress(browser, live, shots):
    base, project, storey, token, walk = live
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A script, style or image the Content-Security-Policy blocks is reported on the console.
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))

    page.goto(f"{base}/projects/{project}")
    assert "/auth/login" in page.url
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/projects/{project}")

    plan_url, view_url = f"{base}/projects/{project}/storeys/{storey}/plan", f"{base}/projects/{project}/storeys/{storey}/3d"
    page.goto(plan_url)
    before_plan = plan_statuses(page)
    assert before_plan.get("installed", 0) == 0  # nothing observed yet
    page.goto(view_url)
    before_3d = viewer_colours(page)
    assert before_3d.get("installed", 0) == 0

    capture = upload_walk(base, token, walk)
    page.goto(f"{base}/projects/{project}/captures")
    row = page.locator(f'tr[data-capture="{capture}"]')
    row.locator(".badge.state-processed").wait_for(timeout=300_000)  # the page polls and refreshes itself
    page.screenshot(path=str(shots / "captures.png"))

    page.goto(plan_url)
    after_plan = plan_statuses(page)
    assert after_plan.get("installed", 0) > 0
    assert page.locator("#plan .frame-dot").count() == 4  # the walk's frames, drawn where they were taken
    page.screenshot(path=str(shots / "floor-plan.png"))

    page.goto(view_url)
    after_3d = viewer_colours(page)
    assert after_3d.get("installed", 0) > 0 and after_3d != before_3d
    page.screenshot(path=str(shots / "twin-3d.png"))

    # the day before the walk (taken a week ago), picked on the plan: nothing was installed as believed then
    page.goto(plan_url)
    before_walk = (dt.date.today() - dt.timedelta(days=8)).isoformat()
    page.fill("form.date-picker input[type=date]", before_walk)
    with page.expect_navigation():
        page.click("form.date-picker button[type=submit]")
    assert f"date={before_walk}" in page.url and page.locator("#as-of").is_visible()
    assert plan_statuses(page).get("installed", 0) == 0
    page.click("nav.storey-tabs a.alt")  # to the 3D view, keeping the date
    assert f"date={before_walk}" in page.url
    assert viewer_colours(page).get("installed", 0) == 0

    page.goto(view_url)  # today's 3D view again: an installed element there opens its page
    assert viewer_colours(page).get("installed", 0) > 0
    status = page.evaluate(f"fetch('/projects/{project}/storeys/{storey}/status.json').then(r => r.json())")
    installed = [gid for gid, s in status["elements"].items() if s == "installed"]
    # a point of the canvas (in the window, not under the legend) where an installed element is
    # what the mouse would hit: a grid over the canvas, so that no element's centre needs to show,
    # polled while the view settles (the model loads and the camera frames it after the page does)
    found = page.wait_for_function("""gids => { const wanted = new Set(gids);
        const canvas = SiteTwin3D.viewer.renderer.domElement, box = canvas.getBoundingClientRect();
        for (let j = 1; j < 30; j++) for (let i = 1; i < 40; i++) {
            const x = box.left + box.width * i / 40, y = box.top + box.height * j / 30;
            if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
            if (document.elementFromPoint(x, y) !== canvas) continue;
            const mesh = SiteTwin3D.viewer.meshAt(x, y); if (mesh && wanted.has(mesh.name)) return {x, y}; }
        return null; }""", arg=installed, timeout=20_000)
    point = found.json_value()
    assert point, "no installed element is visible in the 3D view"
    with page.expect_navigation():
        page.mouse.click(point["x"], point["y"])
    assert "/elements/" in page.url
    wait_until(page, """(() => { const images = [...document.querySelectorAll('#evidence img')];
        return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0); })()""", timeout=30)
    page.screenshot(path=str(shots / "element.png"), full_page=True)

    page.goto(f"{base}/projects/{project}")
    assert float(page.locator("#kpi-actual .kpi-value").inner_text().rstrip("%")) > 0
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    assert errors == []
    page.close()

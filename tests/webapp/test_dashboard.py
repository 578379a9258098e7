"""The dashboard with Flask's test client: sign-in and CSRF, who sees what, every page on a
processed project, the plan/3D data, evidence pictures and a reviewer's decision."""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import BACKENDS, dispose, fresh_database, make_app
from twin.generate import generate_building
from webapp.models import ApiToken, Capture, ElementStatus, ElementStatusChange, Observation, Project, Storey

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", params=BACKENDS)
def site(request, tmp_path_factory):
    """A processed project 'p' (one storey, one walk a week ago) and users with each role, plus
    project 'other' that only 'outsider' belongs to."""
    folder = tmp_path_factory.mktemp("site")
    with fresh_database(request, request.param, folder) as url:
        app = make_app(url, folder / "data")
        runner = app.test_cli_runner()
        today = dt.date.today()
        path = folder / "b.ifc"
        generate_building(path, storeys=1, bays=(2, 2), seed=4, start=today - dt.timedelta(days=30))

        def cli(*args):
            result = runner.invoke(args=list(args))
            assert result.exit_code == 0, result.output
            return result

        cli("ingest", str(path), "--project", "p")
        cli("schedule", "import", str(path), "--project", "p")
        cli("ingest", str(path), "--project", "other")
        walk = folder / "walk"
        cli(
            "simulate-capture",
            "--project",
            "p",
            "--date",
            (today - dt.timedelta(days=7)).isoformat(),
            "--frames",
            "3",
            "--width",
            "512",
            "--seed",
            "1",
            "--out",
            str(walk),
        )
        cli("process", str(walk), "--project", "p")
        for email, project, role in (
            ("viewer@x.org", "p", "viewer"),
            ("manager@x.org", "p", "manager"),
            ("outsider@x.org", "other", "admin"),
        ):
            cli(
                "user",
                "create",
                "--email",
                email,
                "--password",
                PASSWORD,
                "--project",
                project,
                "--role",
                role,
            )
        yield app
        dispose(app)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def signed_in(app, email: str):
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    response = client.post(
        "/auth/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def ids(app):
    from webapp.extensions import db

    with app.app_context():
        p = db.session.scalar(select(Project.id).where(Project.name == "p"))
        other = db.session.scalar(select(Project.id).where(Project.name == "other"))
        storey = db.session.scalar(
            select(Storey.id).join(Storey.revision).where(Storey.revision.has(project_id=p))
        )
        observed = db.session.scalar(
            select(Observation).where(Observation.project_id == p, Observation.kind == "installed").limit(1)
        )
        return p, other, storey, observed.global_id, observed.id


def test_pages_need_a_signed_in_user(site):
    client = site.test_client()
    p, *_ = ids(site)
    response = client.get(f"/projects/{p}")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_sign_in_refuses_a_wrong_password_and_a_form_without_its_csrf_token(site):
    client = site.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    wrong = client.post(
        "/auth/login", data={"email": "viewer@x.org", "password": "nope", "csrf_token": csrf_of(page)}
    )
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.get_data(as_text=True)
    forged = client.post("/auth/login", data={"email": "viewer@x.org", "password": PASSWORD})
    assert forged.status_code == 400
    assert client.get("/projects").status_code == 302  # still signed out


def test_next_only_redirects_within_the_site(site):
    client = site.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    response = client.post(
        "/auth/login?next=https://evil.example/x",
        data={"email": "viewer@x.org", "password": PASSWORD, "csrf_token": csrf_of(page)},
    )
    assert response.headers["Location"] == "/projects"


def test_every_page_of_a_processed_project_renders(site):
    p, _, storey, gid, _ = ids(site)
    client = signed_in(site, "viewer@x.org")
    projects = client.get("/projects").get_data(as_text=True)
    assert f'href="/projects/{p}"' in projects and "other" not in projects
    overview = client.get(f"/projects/{p}")
    html = overview.get_data(as_text=True)
    assert overview.status_code == 200
    assert 'class="scurve"' in html and 'id="storeys"' in html and 'id="trades"' in html
    assert re.search(r'<span class="kpi-value">\d+(\.\d+)?%</span><span>built</span>', html)
    for url in (
        f"/projects/{p}/storeys/{storey}/plan",
        f"/projects/{p}/storeys/{storey}/3d",
        f"/projects/{p}/elements/{gid}",
        f"/projects/{p}/captures",
        f"/projects/{p}/alerts",
        f"/projects/{p}/settings",
        f"/projects/{p}/schedule",
    ):
        response = client.get(url)
        assert response.status_code == 200, url


def test_a_project_of_another_team_does_not_exist_for_a_user(site):
    p, other, storey, gid, observation = ids(site)
    client = signed_in(site, "outsider@x.org")
    assert client.get(f"/projects/{other}").status_code == 200
    for url in (
        f"/projects/{p}",
        f"/projects/{p}/storeys/{storey}/status.json",
        f"/projects/{p}/elements/{gid}",
        f"/projects/{p}/observations/{observation}/evidence.jpg",
        f"/projects/{p}/settings",
    ):
        assert client.get(url).status_code == 404, url
    # and a storey of project p reached through project 'other' is not found either
    assert client.get(f"/projects/{other}/storeys/{storey}/plan").status_code == 404


def test_status_json_gives_every_storey_element_a_known_status_and_the_frame_positions(site):
    from webapp.services.elements import STATUSES

    p, _, storey, gid, _ = ids(site)
    body = signed_in(site, "viewer@x.org").get(f"/projects/{p}/storeys/{storey}/status.json").get_json()
    assert set(body["elements"].values()) <= set(STATUSES)
    assert body["elements"][gid] in {"installed", "in_progress", "late", "review"}
    assert sum(body["counts"].values()) == len(body["elements"])
    assert len(body["frames"]) == 3 and all({"x", "y", "capture"} <= set(f) for f in body["frames"])


def test_the_plan_svg_has_one_path_per_element_with_the_status_json_ids(site):
    p, _, storey, gid, _ = ids(site)
    client = signed_in(site, "viewer@x.org")
    svg = client.get(f"/projects/{p}/storeys/{storey}/plan.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    gids = set(re.findall(r'data-gid="([^"]+)"', svg.get_data(as_text=True)))
    statuses = client.get(f"/projects/{p}/storeys/{storey}/status.json").get_json()["elements"]
    assert gid in gids and gids <= set(statuses)
    again = client.get(
        f"/projects/{p}/storeys/{storey}/plan.svg", headers={"If-None-Match": svg.headers["ETag"]}
    )
    again.close()
    assert again.status_code == 304


def test_the_storey_glb_is_a_gltf_binary_with_nodes_named_by_global_id(site):
    import json

    p, _, storey, gid, _ = ids(site)
    data = signed_in(site, "viewer@x.org").get(f"/projects/{p}/storeys/{storey}/model.glb").get_data()
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    chunk_length, chunk_type = struct.unpack_from("<I4s", data, 12)
    document = json.loads(data[20 : 20 + chunk_length])
    assert chunk_type == b"JSON" and gid in {node.get("name") for node in document["nodes"]}


def test_evidence_is_a_jpeg_crop_of_the_frame(site):
    p, _, _, gid, observation = ids(site)
    client = signed_in(site, "viewer@x.org")
    assert f"/observations/{observation}/evidence.jpg" in client.get(
        f"/projects/{p}/elements/{gid}"
    ).get_data(as_text=True)
    response = client.get(f"/projects/{p}/observations/{observation}/evidence.jpg")
    assert response.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(response.get_data())) as image:
        assert 0 < image.width <= 640  # a crop around the element, not the 512×256 frame scaled up


def test_a_viewer_cannot_review_and_a_manager_review_wins_and_is_recorded(site):
    from webapp.extensions import db

    p, _, _, gid, _ = ids(site)
    viewer = signed_in(site, "viewer@x.org")
    page = viewer.get(f"/projects/{p}/elements/{gid}").get_data(as_text=True)
    assert 'id="confirm"' not in page
    assert (
        viewer.post(
            f"/projects/{p}/elements/{gid}/review", data={"stage": "0", "csrf_token": csrf_of(page)}
        ).status_code
        == 403
    )
    manager = signed_in(site, "manager@x.org")
    page = manager.get(f"/projects/{p}/elements/{gid}").get_data(as_text=True)
    assert (
        manager.post(f"/projects/{p}/elements/{gid}/review", data={"stage": "0"}).status_code == 400
    )  # no CSRF
    response = manager.post(
        f"/projects/{p}/elements/{gid}/review", data={"stage": "0", "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 303
    with site.app_context():
        status = db.session.scalar(
            select(ElementStatus).where(ElementStatus.project_id == p, ElementStatus.global_id == gid)
        )
        assert (status.stage, status.reviewed_stage, status.needs_review) == (0, 0, False)
        change = db.session.scalar(
            select(ElementStatusChange)
            .where(ElementStatusChange.global_id == gid)
            .order_by(ElementStatusChange.id.desc())
            .limit(1)
        )
        assert change.reviewer == "manager@x.org" and change.stage == 0
    html = manager.get(f"/projects/{p}/elements/{gid}").get_data(as_text=True)
    assert "reviewed by manager@x.org" in html
    bad = manager.post(
        f"/projects/{p}/elements/{gid}/review",
        data={"stage": "9", "csrf_token": csrf_of(page)},
        follow_redirects=True,
    )
    assert "is not a stage of" in bad.get_data(as_text=True)


def test_settings_issue_a_token_shown_once_and_revoke_it(site):
    from webapp.extensions import db

    p, *_ = ids(site)
    manager = signed_in(site, "manager@x.org")
    page = manager.get(f"/projects/{p}/settings").get_data(as_text=True)
    response = manager.post(
        f"/projects/{p}/settings/tokens", data={"name": "helmet-9", "role": "camera", "csrf_token": csrf_of(page)}
    )
    secret = re.search(r"<code>(st_[^<]+)</code>", response.get_data(as_text=True)).group(1)
    assert secret not in manager.get(f"/projects/{p}/settings").get_data(as_text=True)
    api = site.test_client()
    assert api.get("/api/v1/captures/1", headers={"Authorization": f"Bearer {secret}"}).status_code in (
        200,
        404,
    )
    with site.app_context():
        token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "helmet-9"))
    page = manager.get(f"/projects/{p}/settings").get_data(as_text=True)
    manager.post(f"/projects/{p}/settings/tokens/{token_id}/revoke", data={"csrf_token": csrf_of(page)})
    assert api.get("/api/v1/captures/1", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_settings_refuse_bad_input_and_change_nothing(site, tmp_path):
    from tests.conftest import table_dump
    from webapp.extensions import db

    p, *_ = ids(site)
    manager = signed_in(site, "manager@x.org")
    with site.app_context():
        before = table_dump(db.session)
    page = manager.get(f"/projects/{p}/settings").get_data(as_text=True)
    token = csrf_of(page)
    corrupt = manager.post(
        f"/projects/{p}/settings/model",
        data={"csrf_token": token, "file": (io.BytesIO(b"ISO-10303-21;\nHEADER;\nnot really"), "broken.ifc")},
        content_type="multipart/form-data",
    )
    assert corrupt.status_code == 400 and "broken.ifc" in corrupt.get_data(as_text=True)
    wrong_type = manager.post(
        f"/projects/{p}/settings/schedule",
        data={"csrf_token": token, "file": (io.BytesIO(b"%PDF-1.4"), "plan.pdf")},
        content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 400
    no_contact = manager.post(f"/projects/{p}/settings/recipients", data={"csrf_token": token, "name": "Ann"})
    assert no_contact.status_code == 400 and "email address, a mobile number" in no_contact.get_data(
        as_text=True
    )
    no_milestone = manager.post(
        f"/projects/{p}/settings/rules", data={"csrf_token": token, "kind": "forecast_beyond"}
    )
    assert no_milestone.status_code == 400
    with site.app_context():
        assert table_dump(db.session) == before
    viewer = signed_in(site, "viewer@x.org")
    # the manager's CSRF token is no good in the viewer's session; the viewer's own token is, but the role is not
    assert (
        viewer.post(
            f"/projects/{p}/settings/rules", data={"csrf_token": token, "kind": "past_finish"}
        ).status_code
        == 400
    )
    own = csrf_of(viewer.get(f"/projects/{p}/settings").get_data(as_text=True))
    assert (
        viewer.post(
            f"/projects/{p}/settings/rules", data={"csrf_token": own, "kind": "past_finish"}
        ).status_code
        == 403
    )


def test_the_overview_report_is_stored_and_reused_until_something_changes(site):
    from webapp.extensions import db
    from webapp.models import ProgressReport

    p, *_ = ids(site)
    client = signed_in(site, "viewer@x.org")
    client.get(f"/projects/{p}")
    with site.app_context():
        first = db.session.get(ProgressReport, p)
        key, computed = first.key, first.computed_at
        assert first.report["overall"] is not None
    client.get(f"/projects/{p}")
    with site.app_context():
        again = db.session.get(ProgressReport, p)
        assert (again.key, again.computed_at) == (key, computed)
        count = db.session.scalar(select(func.count()).select_from(ElementStatusChange))
        assert count >= 1 and "/c" in key


def test_secret_key_is_required_outside_development(tmp_path):
    from webapp import ConfigurationError, create_app

    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app({"SITETWIN_ENV": "production", "SECRET_KEY": "", "SITETWIN_DATA_DIR": str(tmp_path)})
    app = create_app(
        {"SITETWIN_ENV": "production", "SECRET_KEY": "x" * 40, "SITETWIN_DATA_DIR": str(tmp_path)}
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True or app.config["SITETWIN_ENV"] == "production"


def test_plans_and_storey_models_are_sent_gzipped_to_a_browser_that_accepts_it(site):
    import gzip

    p, _, storey, _, _ = ids(site)
    client = signed_in(site, "viewer@x.org")
    for url in (f"/projects/{p}/storeys/{storey}/plan.svg", f"/projects/{p}/storeys/{storey}/model.glb"):
        plain = client.get(url).get_data()
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.get_data()) == plain and len(zipped.get_data()) < len(plain)


def test_the_review_queue_lists_flagged_elements_until_a_reviewer_decides(site):
    from webapp.extensions import db

    p, _, _, gid, _ = ids(site)
    with site.app_context():
        status = db.session.scalar(select(ElementStatus).where(ElementStatus.project_id == p,
                                                               ElementStatus.global_id == gid))
        status.needs_review = True
        db.session.commit()
    manager = signed_in(site, "manager@x.org")
    assert gid in manager.get(f"/projects/{p}/review").get_data(as_text=True)
    page = manager.get(f"/projects/{p}/elements/{gid}").get_data(as_text=True)
    manager.post(f"/projects/{p}/elements/{gid}/review", data={"stage": "1", "csrf_token": csrf_of(page)})
    assert gid not in manager.get(f"/projects/{p}/review").get_data(as_text=True)


def test_a_model_larger_than_a_frame_uploads_through_the_settings_page(site):
    from webapp.extensions import db
    from webapp.models import ModelRevision

    p, *_ = ids(site)
    with site.app_context():
        revision = db.session.scalar(select(ModelRevision).where(ModelRevision.project_id == p))
        stored = Path(site.config["SITETWIN_DATA_DIR"]) / "models" / f"{revision.sha256}.ifc"
    data = stored.read_bytes()
    manager = signed_in(site, "manager@x.org")
    page = manager.get(f"/projects/{p}/settings").get_data(as_text=True)
    limit = site.config["MAX_CONTENT_LENGTH"]
    site.config["MAX_CONTENT_LENGTH"] = len(data) // 4  # frames may be small; a model is not a frame
    try:
        response = manager.post(f"/projects/{p}/settings/model", content_type="multipart/form-data",
                                data={"csrf_token": csrf_of(page), "file": (io.BytesIO(data), "b.ifc")},
                                follow_redirects=True)
    finally:
        site.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 200 and f"Model revision {revision.number}" in response.get_data(as_text=True)


def test_a_storeys_status_map_is_reused_until_a_status_changes(site):
    from webapp.extensions import db

    p, _, storey, gid, _ = ids(site)
    manager = signed_in(site, "manager@x.org")
    url = f"/projects/{p}/storeys/{storey}/status.json"
    first = manager.get(url)
    unchanged = manager.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304
    page = manager.get(f"/projects/{p}/elements/{gid}").get_data(as_text=True)
    manager.post(f"/projects/{p}/elements/{gid}/review", data={"stage": "0", "csrf_token": csrf_of(page)})
    after = manager.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.get_json()["elements"][gid] != "installed"
    with site.app_context():
        assert db.session.scalar(select(ElementStatus.stage).where(ElementStatus.global_id == gid)) == 0


def test_the_captures_page_says_which_frames_are_not_localised(site):
    from webapp.extensions import db

    p = ids(site)[0]
    with site.app_context():
        capture = db.session.scalar(select(Capture).where(Capture.project_id == p))
        before = dict(capture.stats)
        reason = "no pose prior: localising a frame without one is not available yet"
        capture.stats = {**before, "not_localised_frames": [
            {"index": 1, "file": "frames/000001.jpg", "reason": reason}]}
        db.session.commit()
    try:
        html = signed_in(site, "viewer@x.org").get(f"/projects/{p}/captures").get_data(as_text=True)
        assert "1 frame(s) not localised" in html and "frame 1 (frames/000001.jpg): no pose prior" in html
    finally:
        with site.app_context():
            db.session.scalar(select(Capture).where(Capture.project_id == p)).stats = before
            db.session.commit()

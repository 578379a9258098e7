"""The camera upload API: tokens, validation, idempotent retries, and the OpenAPI document."""

import io
import json

import numpy as np
import pytest
from PIL import Image


def jpeg(width=256, height=128, seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def manifest(capture_id="walk-1", frames=2, **frame_overrides):
    return {"format": "sitetwin-capture/1", "capture_id": capture_id, "started_at": "2026-01-05T09:00:00Z",
            "frames": [{"file": f"frames/{k:06d}.jpg", "timestamp": f"2026-01-05T09:00:{k:02d}Z",
                        "pose_prior": {"position": [1.0 + k, 2.0, 1.7], "yaw": 0.1}, **frame_overrides}
                       for k in range(frames)]}


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def put_frame(client, token, capture, index, data, name="f.jpg"):
    return client.put(f"/api/v1/captures/{capture}/frames/{index}", headers=auth(token),
                      data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_no_token_or_a_wrong_token_is_401(api):
    client, _, _ = api
    assert client.post("/api/v1/captures", json=manifest()).status_code == 401
    response = client.post("/api/v1/captures", json=manifest(), headers=auth("st_not-a-token"))
    assert response.status_code == 401 and "error" in response.get_json()


def test_another_projects_token_sees_and_changes_nothing_and_gets_404(api):
    client, a, b = api
    capture = client.post("/api/v1/captures", json=manifest(), headers=auth(a)).get_json()["id"]
    assert client.get(f"/api/v1/captures/{capture}", headers=auth(b)).status_code == 404
    assert put_frame(client, b, capture, 0, jpeg()).status_code == 404
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(b)).status_code == 404


def test_a_revoked_token_is_refused(api, runner):
    client, a, _ = api
    assert client.post("/api/v1/captures", json=manifest(), headers=auth(a)).status_code == 201
    runner.invoke(args=["token", "revoke", "1"])
    assert client.post("/api/v1/captures", json=manifest("walk-2"), headers=auth(a)).status_code == 401


def test_a_token_records_its_last_use_to_the_minute_without_a_write_per_request(api, app):
    import datetime as dt

    from webapp.extensions import db
    from webapp.models import ApiToken

    client, a, _ = api
    capture = client.post("/api/v1/captures", json=manifest(), headers=auth(a)).get_json()["id"]

    def last_used():
        with app.app_context():
            value = db.session.get(ApiToken, 1).last_used_at
            db.session.remove()
            return value

    first = last_used()
    assert first is not None
    assert client.get(f"/api/v1/captures/{capture}", headers=auth(a)).status_code == 200
    assert last_used() == first  # within the minute: not rewritten
    with app.app_context():
        db.session.get(ApiToken, 1).last_used_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        db.session.commit()
        db.session.remove()
    assert client.get(f"/api/v1/captures/{capture}", headers=auth(a)).status_code == 200
    assert last_used().replace(tzinfo=dt.UTC) > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)


def test_a_retried_frame_is_stored_once_and_a_retried_capture_is_the_same(api):
    client, a, _ = api
    first = client.post("/api/v1/captures", json=manifest(), headers=auth(a))
    again = client.post("/api/v1/captures", json=manifest(), headers=auth(a))
    assert first.status_code == 201 and again.status_code == 200
    capture = first.get_json()["id"]
    assert again.get_json()["id"] == capture
    data = jpeg()
    assert put_frame(client, a, capture, 0, data).status_code == 201
    retry = put_frame(client, a, capture, 0, data)
    assert retry.status_code == 200 and retry.get_json()["duplicate"] is True
    assert put_frame(client, a, capture, 0, jpeg(seed=1)).status_code == 409
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
    assert status["frames_received"] == 1 and status["missing"] == [1]
    finalise = client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(a))
    assert finalise.status_code == 409 and finalise.get_json()["missing"] == [1]


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"GIF89a not a jpeg", 415, "only JPEG or PNG"),
    (b"\xff\xd8\xff\xe0 truncated jpeg", 400, "not a readable image"),
    ("square", 400, "2:1"),
])
def test_frames_are_validated(api, data, status, words):
    client, a, _ = api
    capture = client.post("/api/v1/captures", json=manifest(), headers=auth(a)).get_json()["id"]
    if data == "square":
        data = jpeg(128, 128)
    response = put_frame(client, a, capture, 0, data)
    assert response.status_code == status and words in response.get_json()["error"]


def test_a_decompression_bomb_is_refused_by_its_header(api, app):
    client, a, _ = api
    app.config["SITETWIN_MAX_FRAME_PIXELS"] = 100 * 50
    capture = client.post("/api/v1/captures", json=manifest(), headers=auth(a)).get_json()["id"]
    response = put_frame(client, a, capture, 0, jpeg(256, 128))
    assert response.status_code == 413 and "pixels" in response.get_json()["error"]


def test_an_oversized_request_is_413(api, app):
    client, a, _ = api
    app.config["MAX_CONTENT_LENGTH"] = 1000
    capture = client.post("/api/v1/captures", json=manifest(), headers=auth(a)).get_json()["id"]
    assert put_frame(client, a, capture, 0, jpeg(512, 256)).status_code == 413


@pytest.mark.parametrize("bad", [
    {"pose_prior": {"position": [1.0, 2.0], "yaw": 0.0}},
    {"pose_prior": {"position": [1.0, 2.0, float("nan")], "yaw": 0.0}},
    {"timestamp": "yesterday"},
    {"timestamp": "1970-01-01T00:00:00Z"},
    {"file": "../../etc/passwd.jpg"},
    {"file": "frames//x.jpg"},
])
def test_manifests_with_bad_poses_or_timestamps_are_refused(api, bad):
    client, a, _ = api
    body = json.dumps(manifest(frames=1, **bad)).replace("NaN", "1e999")
    response = client.post("/api/v1/captures", data=body, content_type="application/json", headers=auth(a))
    assert response.status_code == 400 and response.get_json()["error"]


def test_the_openapi_document_describes_every_route(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes = {rule.rule.removeprefix("/api/v1").replace("<int:", "{").replace(">", "}")
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/") and "openapi" not in rule.rule}
    assert routes == set(document["paths"])


def test_an_id_beyond_the_database_integer_range_is_404_not_a_crash(api):
    # Found by schemathesis: PostgreSQL refused the lookup with "integer out of range" (a 500).
    client, a, _ = api
    assert client.get("/api/v1/captures/2147483648", headers=auth(a)).status_code == 404

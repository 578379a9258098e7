"""Capture manifests at the API's edge (issue #22, items 4 and 6): lengths that match the database,
no control characters, frame files that cannot alias one another, poses bounded to the model, and a
cheap refusal of a huge manifest. Each is a clear 4xx that stores nothing, never a 500, on SQLite
and PostgreSQL."""

import json

import pytest
from sqlalchemy import func, select

from tests.webapp.test_api import auth, manifest
from tests.webapp.test_api_video import video_manifest
from twin.generate import generate_building
from webapp.models import Capture


@pytest.fixture
def camera(app, runner, tmp_path):
    """One project (a generated one-bay building, a few metres around the origin) and its camera token."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, bays=(1, 1), seed=1)
    assert runner.invoke(args=["ingest", str(path), "--project", "A"]).exit_code == 0
    result = runner.invoke(args=["token", "create", "--project", "A", "--name", "cam", "--json"])
    return app.test_client(), json.loads(result.stdout)["token"]


def captures(app) -> int:
    from webapp.extensions import db

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Capture))
        db.session.remove()
    return count


def post(client, token, body):
    text = body if isinstance(body, str) else json.dumps(body)
    return client.post("/api/v1/captures", data=text, content_type="application/json", headers=auth(token))


def refused(app, response, status, *words):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    message = response.get_json()["error"]
    for word in words:
        assert word in message, message
    assert captures(app) == 0
    return message


def with_frames(*files, **fields):
    body = manifest(frames=len(files))
    for frame, file in zip(body["frames"], files, strict=True):
        frame["file"] = file
    body.update(fields)
    return body


@pytest.mark.parametrize(("field", "value", "words"), [
    ("storey", "S" * 23, ("storey", "too long")),
    ("capture_id", "c" * 201, ("capture_id", "too long")),
    ("device", "d" * 201, ("device", "too long")),
    ("capture_id", "walk\x001", ("capture_id", "control character")),
    ("device", "cam\x00", ("device", "control character")),
    ("storey", "L1\x00", ("storey", "control character")),
    ("capture_id", "walk\r\nBcc: x@example.com", ("capture_id", "control character")),
])
def test_text_fields_longer_than_their_column_or_with_control_characters_are_400(app, camera, field, value,
                                                                                words):
    client, token = camera
    body = manifest()
    body[field] = value
    message = refused(app, post(client, token, body), 400, *words)
    assert "\x00" not in message and "\r" not in message


def test_a_storey_of_22_characters_is_accepted(app, camera):
    from webapp.extensions import db
    from webapp.models import Storey

    client, token = camera
    with app.app_context():
        storey = db.session.scalar(select(Storey.global_id))
        db.session.remove()
    body = manifest()
    body["storey"] = storey
    assert len(storey) == 22 and post(client, token, body).status_code == 201


def test_a_storey_the_model_does_not_have_is_400_naming_the_storeys_it_has(app, camera):
    from webapp.extensions import db
    from webapp.models import Storey

    client, token = camera
    with app.app_context():
        storey = db.session.scalar(select(Storey.global_id))
        db.session.remove()
    body = manifest()
    body["storey"] = "S" * 22
    refused(app, post(client, token, body), 400, "'SSSSSSSSSSSSSSSSSSSSSS' is not a storey", "its storeys:", storey)


@pytest.mark.parametrize(("files", "words"), [
    (("x.jpg", "./x.jpg"), ("frame 1 (./x.jpg)", "same file as frame 0 (x.jpg)")),
    (("frames/x.jpg", "frames/./x.jpg"), ("frame 1", "same file as frame 0")),
    (("X.jpg", "x.jpg"), ("frame 1 (x.jpg)", "same file")),
    (("a.jpg", "a.jpg/b.jpg"), ("frame 1 (a.jpg/b.jpg)", "frame 0's file (a.jpg)", "also be a folder")),
    (("a.jpg/b.jpg", "a.jpg"), ("frame 0 (a.jpg/b.jpg)", "frame 1's file (a.jpg)")),
    (("capture.json/x.jpg",), ("frame 0 (capture.json/x.jpg)", "inside capture.json")),
    (("/etc/x.jpg",), ("frame 0", "relative path")),
    (("frames/../../x.jpg",), ("frame 0", "relative path")),
    (("frames//x.jpg",), ("frame 0", "relative path")),
])
def test_frame_files_that_alias_or_escape_are_400(app, camera, files, words):
    client, token = camera
    refused(app, post(client, token, with_frames(*files)), 400, *words)


def test_a_dot_slash_frame_is_stored_at_its_normal_name(app, camera):
    import io

    from tests.webapp.test_api import jpeg

    client, token = camera
    response = post(client, token, with_frames("./x.jpg", "frames/y.jpg"))
    assert response.status_code == 201
    capture = response.get_json()["id"]
    upload = client.put(f"/api/v1/captures/{capture}/frames/0", headers=auth(token),
                        data={"file": (io.BytesIO(jpeg()), "x.jpg")}, content_type="multipart/form-data")
    assert upload.status_code == 201
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(token)).get_json()
    assert status["missing"] == [1] and status["frames_received"] == 1


@pytest.mark.parametrize(("position", "words"), [
    ([1e300, 2.0, 1.7], ("frame 1 (frames/000001.jpg)", "beyond")),
    ([1000.0, 2.0, 1.7], ("frame 1 (frames/000001.jpg)", "outside the model's extent plus margin")),
    ([2.0, -80.0, 1.7], ("frame 1", "outside the model's extent")),
])
def test_a_pose_far_outside_the_model_is_400_naming_the_frame(app, camera, position, words):
    client, token = camera
    body = manifest(frames=2)
    body["frames"][1]["pose_prior"]["position"] = position
    refused(app, post(client, token, body), 400, *words)


def test_the_pose_margin_is_a_setting(app, camera):
    client, token = camera
    body = manifest(frames=1)
    body["frames"][0]["pose_prior"]["position"] = [40.0, 2.0, 1.7]
    assert post(client, token, body).status_code == 201  # within 50 m of the one-bay building
    app.config["SITETWIN_POSE_MARGIN_M"] = 5.0
    body["capture_id"] = "walk-2"
    assert post(client, token, body).status_code == 400


def test_a_video_track_far_outside_the_model_is_400(app, camera):
    client, token = camera
    body = video_manifest()
    body["track"][0]["pose"]["position"] = [1e300, 0.0, 1.7]
    refused(app, post(client, token, body), 400, "track/0", "beyond")
    body = video_manifest(storey="L1\x00")
    refused(app, post(client, token, body), 400, "storey", "control character")


def test_a_manifest_of_too_many_frames_is_refused_early_without_echoing_it(app, camera):
    client, token = camera
    app.config["SITETWIN_MAX_CAPTURE_FRAMES"] = 2000
    body = manifest(frames=1)
    body["frames"] = body["frames"] * 2001  # 2,001 frames naming one file: invalid if it were validated
    response = post(client, token, body)
    # 413, not the 400 validation would give: refused before validation, and not echoed back.
    message = refused(app, response, 413, "2001 frames", "2000", "SITETWIN_MAX_CAPTURE_FRAMES")
    assert len(response.get_data()) < 1000 and "pose_prior" not in message
    app.config["SITETWIN_MAX_CAPTURE_FRAMES"] = 20000
    validated = post(client, token, body)
    assert validated.status_code == 400 and "same file" in validated.get_json()["error"]
    assert len(validated.get_data()) < 1000


def test_a_manifest_over_the_byte_limit_is_413(app, camera):
    client, token = camera
    app.config["SITETWIN_MAX_MANIFEST_BYTES"] = 10_000
    name = '"frames/000000.jpg"'
    body = json.dumps(manifest(frames=1)).replace(name, name + " " * 100_000)
    response = post(client, token, body)  # 100 kB: over 10,000 bytes and the 64 KiB allowed around a file
    refused(app, response, 413, "larger than")
    assert len(response.get_data()) < 1000


def test_a_schema_error_on_a_long_list_does_not_echo_it(app, camera):
    client, token = camera
    body = manifest(frames=1)
    body["frames"] = []  # too short
    response = post(client, token, body)
    refused(app, response, 400, "frames")
    body = manifest(frames=3)
    body["frames"][2]["pose_prior"]["position"] = ["x" * 5000, 0, 0]
    response = post(client, token, body)
    refused(app, response, 400, "frames/2/pose_prior/position/0")
    assert len(response.get_data()) < 1000


def test_the_default_limits_refuse_the_issues_100001_frame_manifest_and_a_20001_frame_one(app, camera):
    client, token = camera
    body = manifest(frames=1)
    body["frames"] = body["frames"] * 100_001  # 12 MB, within the byte limit: refused by its count
    response = post(client, token, body)
    refused(app, response, 413, "100001 frames", "20000")
    assert len(response.get_data()) < 1000
    body["frames"] = body["frames"][:20_001]
    refused(app, post(client, token, body), 413, "20001 frames", "20000")
    track = video_manifest()
    pose = {"position": [1.0, 2.0, 1.7], "yaw": 0.1}
    track["track"] = [{"t": float(k), "pose": pose} for k in range(20_001)]
    refused(app, post(client, token, track), 413, "20001 pose samples")


def test_a_timestamp_out_of_range_in_utc_is_400_not_500(app, camera):
    """Found by the fuzzer: year 1 at +00:01 is before year 1 in UTC (an OverflowError)."""
    client, token = camera
    body = manifest(frames=1, timestamp="0001-01-01T00:00:00+00:01")
    refused(app, post(client, token, body), 400, "frame 0 (frames/000000.jpg)", "out of range")


def test_a_capture_without_poses_with_a_start_on_the_plan_is_accepted(app, camera):
    client, token = camera
    body = manifest(frames=2)
    for frame in body["frames"]:
        del frame["pose_prior"]
    body["frames"][1]["gravity"] = {"pitch": 0.02, "roll": -0.01}
    assert post(client, token, dict(body, start={"position": [1.0, 2.0], "heading_deg": 90})).status_code == 201
    assert post(client, token, dict(body, capture_id="walk-2")).status_code == 201  # nothing at all


def test_a_start_far_outside_the_model_is_400(app, camera):
    client, token = camera
    body = manifest(frames=1)
    del body["frames"][0]["pose_prior"]
    refused(app, post(client, token, dict(body, start={"position": [1000.0, 2.0]})), 400,
            "start position", "outside the model's extent plus margin")


def test_a_video_without_a_track_is_accepted_and_its_start_bounded(app, camera):
    client, token = camera
    body = video_manifest()
    del body["track"]
    refused(app, post(client, token, dict(body, start={"position": [2.0, -80.0]})), 400, "start position")
    assert post(client, token, dict(body, start={"position": [1.0, 2.0]})).status_code == 201

"""Frame uploads (issue #22, item 2): a damaged frame is refused with 400 and stores nothing, the
right one can follow at the same index, a capture with a frame damaged on disk is processed without
it and says so, and no message a client sees carries a server path. SQLite and PostgreSQL."""

import json

import pytest

from tests.vision.test_frame_file import damaged
from tests.webapp.test_api import auth, jpeg, manifest, put_frame

HOW = ["stub of 700 bytes", "40 % of the file", "90 % of the file", "zeroed middle"]


def upload_folder(app, capture: int):
    from webapp.extensions import db
    from webapp.models import Capture
    from webapp.services.uploads import upload_dir

    with app.app_context():
        folder = upload_dir(app.config, db.session.get(Capture, capture))
        db.session.remove()
    return folder


def new_capture(client, token, frames=2):
    response = client.post("/api/v1/captures", json=manifest(frames=frames), headers=auth(token))
    assert response.status_code == 201
    return response.get_json()["id"]


@pytest.mark.parametrize("how", HOW)
def test_a_damaged_jpeg_is_400_stores_nothing_and_the_right_one_can_follow(app, api, how):
    client, a, _ = api
    capture = new_capture(client, a)
    good = jpeg(512, 256)
    response = put_frame(client, a, capture, 0, damaged(good, how))
    assert response.status_code == 400
    message = response.get_json()["error"]
    assert "frame 0 (frames/000000.jpg)" in message and "not a readable image" in message
    folder = upload_folder(app, capture)
    assert not (folder / "frames").exists() or not any((folder / "frames").iterdir())  # not even a temp file
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
    assert status["missing"] == [0, 1]
    assert put_frame(client, a, capture, 0, good).status_code == 201
    assert (folder / "frames" / "000000.jpg").read_bytes() == good


def test_a_stored_frame_that_no_longer_decodes_can_be_replaced_but_a_good_one_cannot(app, api):
    client, a, _ = api
    capture = new_capture(client, a)
    good = jpeg(512, 256)
    assert put_frame(client, a, capture, 0, good).status_code == 201
    assert put_frame(client, a, capture, 1, jpeg(512, 256, seed=3)).status_code == 201
    assert put_frame(client, a, capture, 0, jpeg(512, 256, seed=9)).status_code == 409  # a good one stays
    target = upload_folder(app, capture) / "frames" / "000000.jpg"
    target.write_bytes(damaged(good, "90 % of the file"))  # damaged on disk (or stored before this check)
    assert put_frame(client, a, capture, 0, good).status_code == 201
    assert target.read_bytes() == good


def test_another_projects_capture_is_404_like_a_missing_one(api):
    client, a, b = api
    capture = new_capture(client, a)
    for token in (b,):
        for response in (client.get(f"/api/v1/captures/{capture}", headers=auth(token)),
                         put_frame(client, token, capture, 0, jpeg()),
                         client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(token))):
            assert response.status_code == 404
            assert response.get_json() == {"error": f"no capture {capture}"}
    assert client.get(f"/api/v1/captures/{capture + 1000}", headers=auth(b)).get_json() == \
        {"error": f"no capture {capture + 1000}"}


@pytest.mark.slow
def test_a_failed_captures_error_carries_no_server_path(app, api, tmp_path):
    """Every frame damaged on disk after upload: the capture fails, and neither the API nor the
    dashboard's column shows where the server keeps its files."""
    from webapp.extensions import db
    from webapp.models import Capture

    client, a, _ = api
    app.config["SITETWIN_JOBS"] = "sync"
    capture = new_capture(client, a)
    good = [jpeg(512, 256, seed=index) for index in range(2)]
    for index in range(2):
        assert put_frame(client, a, capture, index, good[index]).status_code == 201
    folder = upload_folder(app, capture)
    for index in range(2):
        frame = folder / "frames" / f"{index:06d}.jpg"
        frame.write_bytes(damaged(good[index], "40 % of the file"))
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(a)).status_code == 202
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
    assert status["state"] == "failed"
    assert "no frame of capture 'walk-1' can be read" in status["error"]
    assert "frames/000000.jpg" in status["error"]
    with app.app_context():
        stored = db.session.get(Capture, capture).error
        db.session.remove()
    for text in (status["error"], stored):
        assert str(tmp_path) not in text and app.config["SITETWIN_DATA_DIR"] not in text
    # The failed capture's damaged frames can be replaced by the right ones (not 409), then finalised again.
    for index in range(2):
        assert put_frame(client, a, capture, index, good[index]).status_code == 201
        assert (folder / "frames" / f"{index:06d}.jpg").read_bytes() == good[index]
    assert put_frame(client, a, capture, 0, jpeg(512, 256, seed=7)).status_code == 409  # a good one stays


def test_public_messages_drop_server_paths():
    from webapp.services.messages import public_message

    assert public_message("/srv/data/uploads/3/7/capture.json: frame 2: bad", ["/srv/data/uploads/3/7"]) \
        == "capture.json: frame 2: bad"
    assert public_message("OSError: [Errno 2] No such file: '/var/lib/sitetwin/frames/ab/abc.jpg'") \
        == "OSError: [Errno 2] No such file: 'abc.jpg'"
    # Relative paths, URLs and ratios stay.
    kept = "frame 1 (frames/000001.jpg) see https://example.com/a/b 1/2"
    assert public_message(kept) == kept


def test_a_status_poll_does_not_reread_the_manifest(app, api, monkeypatch):
    """The frame list of a stored manifest is read once per manifest version, not on every poll."""
    from webapp.services import uploads

    client, a, _ = api
    capture = new_capture(client, a, frames=3)
    reads = []
    original = uploads._frame_entries.__wrapped__

    def counting(*args):
        reads.append(args)
        return original(*args)

    monkeypatch.setattr(uploads, "_frame_entries", uploads.lru_cache(maxsize=64)(counting))
    for _ in range(5):
        status = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
        assert status["frames_expected"] == 3 and status["missing"] == [0, 1, 2]
    assert len(reads) == 1


@pytest.mark.slow
def test_a_capture_with_one_damaged_frame_is_processed_without_it_and_says_so(app, runner, walk):
    """A simulated 3-frame walk uploaded whole, then frame 1 damaged on disk (the upload refuses a
    damaged frame): the capture is processed from frames 0 and 2 and lists frame 1 as skipped."""
    from webapp.extensions import db
    from webapp.models import Capture

    app.config["SITETWIN_JOBS"] = "sync"
    token = json.loads(runner.invoke(args=["token", "create", "--project", "p", "--name", "cam",
                                           "--json"]).stdout)["token"]
    client = app.test_client()
    text = json.dumps(json.loads((walk / "capture.json").read_text())).replace('"2027-', '"2026-')
    response = client.post("/api/v1/captures", data=text, content_type="application/json",
                           headers=auth(token))
    assert response.status_code == 201, response.get_json()
    capture = response.get_json()["id"]
    frames = json.loads(text)["frames"]
    for index, frame in enumerate(frames):
        data = (walk / frame["file"]).read_bytes()
        assert put_frame(client, token, capture, index, data).status_code == 201
    target = upload_folder(app, capture) / frames[1]["file"]
    target.write_bytes(damaged(target.read_bytes(), "zeroed middle"))
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(token)).status_code == 202
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(token)).get_json()
    assert status["state"] == "processed", status
    skipped = status["stats"]["skipped_frames"]
    assert [(s["index"], s["file"]) for s in skipped] == [(1, frames[1]["file"])]
    assert "not a readable image" in skipped[0]["reason"]
    assert status["stats"]["observations"]
    with app.app_context():
        assert [f.index for f in db.session.get(Capture, capture).frames] == [0, 2]
        db.session.remove()
    # Finalising again changes nothing (the skipped frame is not a mismatch).
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(token)).status_code == 202
    assert client.get(f"/api/v1/captures/{capture}", headers=auth(token)).get_json()["state"] == "processed"


def test_a_skipped_frame_travels_between_celery_workers_as_plain_data():
    """A chunk worker's skipped frame reaches the worker that stores the capture (JSON, no result)."""
    from webapp.services.processing import RegisteredFrame

    frame = RegisteredFrame(3, "ab" * 32, (0, 0), None, {"read": 0.01}, "not a readable image: cut short")
    back = RegisteredFrame.from_dict(json.loads(json.dumps(frame.to_dict())))
    assert back == frame and back.skipped and back.result is None


def test_a_frame_not_localised_travels_between_celery_workers_as_plain_data():
    """A chunk worker's frame without a pose prior reaches the storing worker still not localised."""
    from webapp.services.processing import NO_PRIOR, RegisteredFrame

    frame = RegisteredFrame(2, "cd" * 32, (256, 512), None, {"read": 0.01}, not_localised=NO_PRIOR)
    back = RegisteredFrame.from_dict(json.loads(json.dumps(frame.to_dict())))
    assert back == frame and back.not_localised == NO_PRIOR and back.skipped is None and back.result is None

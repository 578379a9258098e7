"""360° MP4 uploads: a capture from a video manifest, the video checked and stored once, frames
taken from it when it is processed."""

from __future__ import annotations

import hashlib
import io
import json

import cv2
import numpy as np
import pytest

from tests.webapp.test_api import auth, jpeg, put_frame


def mp4(tmp_path, seconds=2.0, width=256, height=None, fps=10, name="walk.mp4", noise=False) -> bytes:
    path = tmp_path / name
    height = height or width // 2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    rng = np.random.default_rng(0)
    for k in range(round(seconds * fps)):
        writer.write(rng.integers(0, 255, (height, width, 3), dtype=np.uint8) if noise
                     else np.full((height, width, 3), (5 * k) % 255, np.uint8))
    writer.release()
    return path.read_bytes()


def video_manifest(capture_id="video-1", interval=1.0, seconds=2.0, **extra):
    return {"format": "sitetwin-video/1", "capture_id": capture_id, "started_at": "2026-01-05T09:00:00Z",
            "interval_s": interval, **extra,
            "track": [{"t": 0.0, "pose": {"position": [1.0, 2.0, 1.7], "yaw": 0.1}},
                      {"t": seconds, "pose": {"position": [3.0, 2.0, 1.7], "yaw": 0.3}}]}


def put_video(client, token, capture, data, name="walk.mp4"):
    return client.put(f"/api/v1/captures/{capture}/video", headers=auth(token),
                      data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def create(client, token, body):
    return client.post("/api/v1/captures", json=body, headers=auth(token))


def test_a_video_capture_is_created_once_and_its_video_stored_once(api, tmp_path):
    client, a, _ = api
    response = create(client, a, video_manifest())
    assert response.status_code == 201 and response.get_json()["video"] == {"received": False}
    capture = response.get_json()["id"]
    assert create(client, a, video_manifest()).status_code == 200  # a retry
    assert create(client, a, video_manifest(interval=2.0)).status_code == 409
    data = mp4(tmp_path)
    stored = put_video(client, a, capture, data)
    assert stored.status_code == 201
    body = stored.get_json()
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and (body["width"], body["height"]) == (256, 128)
    assert body["duration_s"] == pytest.approx(2.0) and not body["duplicate"]
    again = put_video(client, a, capture, data)  # the camera retries after a dropped connection
    assert again.status_code == 200 and again.get_json()["duplicate"]
    assert put_video(client, a, capture, mp4(tmp_path, seconds=3.0, name="other.mp4")).status_code == 409
    status = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
    assert status["video"]["received"] and status["video"]["sha256"] == body["sha256"]


@pytest.mark.parametrize("case, status, message", [
    ("jpeg", 415, "only MP4"),
    ("garbage", 400, "cannot decode"),
    ("square", 400, "must be 2:1"),
    ("checksum", 400, "does not match the manifest"),
])
def test_a_bad_video_is_refused_and_leaves_nothing(api, tmp_path, case, status, message):
    client, a, _ = api
    extra = {"sha256": "0" * 64} if case == "checksum" else {}
    capture = create(client, a, video_manifest(**extra)).get_json()["id"]
    data = {"jpeg": jpeg(), "garbage": b"\x00\x00\x00\x18ftypisom" + bytes(4000),
            "square": mp4(tmp_path, width=128, height=128), "checksum": mp4(tmp_path)}[case]
    response = put_video(client, a, capture, data)
    assert response.status_code == status and message in response.get_json()["error"]
    after = client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()
    assert after["video"] == {"received": False}
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=auth(a)).status_code == 409


def test_size_pixel_and_frame_limits(api, app, tmp_path):
    client, a, _ = api
    capture = create(client, a, video_manifest(interval=0.1)).get_json()["id"]
    data = mp4(tmp_path, seconds=3.0, noise=True)
    assert len(data) > 200_000  # beyond the 64 KiB the route allows for the multipart envelope
    app.config["SITETWIN_MAX_VIDEO_FRAMES"] = 20  # 3 s at 0.1 s is 30 frames
    assert put_video(client, a, capture, data).status_code == 413
    app.config["SITETWIN_MAX_VIDEO_FRAMES"], app.config["SITETWIN_MAX_FRAME_PIXELS"] = 5000, 100 * 50
    assert "pixels" in put_video(client, a, capture, data).get_json()["error"]
    app.config["SITETWIN_MAX_FRAME_PIXELS"], app.config["SITETWIN_MAX_VIDEO_BYTES"] = 8192 * 4096, 1000
    assert put_video(client, a, capture, data).status_code == 413
    app.config["SITETWIN_MAX_VIDEO_BYTES"] = 10**9
    assert put_video(client, a, capture, data).status_code == 201


def test_frames_and_videos_do_not_mix_and_other_projects_are_refused(api, tmp_path):
    from tests.webapp.test_api import manifest

    client, a, b = api
    video_capture = create(client, a, video_manifest()).get_json()["id"]
    frame_capture = create(client, a, manifest()).get_json()["id"]
    assert put_frame(client, a, video_capture, 0, jpeg()).status_code == 409
    assert put_video(client, a, frame_capture, mp4(tmp_path)).status_code == 409
    assert put_video(client, b, video_capture, mp4(tmp_path)).status_code == 404
    assert client.put(f"/api/v1/captures/{video_capture}/video").status_code == 401


@pytest.mark.slow
def test_an_uploaded_video_of_a_walk_is_processed(app, runner, walk, tmp_path):
    """A simulated walk's frames, made into a 1 fps MP4 with the walk's poses as its track."""
    frames = json.loads((walk / "capture.json").read_text())["frames"]
    writer = cv2.VideoWriter(str(tmp_path / "walk.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 1, (512, 256))
    for frame in frames:
        writer.write(cv2.imread(str(walk / frame["file"])))
    writer.release()
    body = {"format": "sitetwin-video/1", "capture_id": "video-walk", "started_at": "2026-11-20T09:00:00Z",
            "interval_s": 1.0, "track": [{"t": float(k), "pose": f["pose_prior"]} for k, f in enumerate(frames)]}
    token = json.loads(runner.invoke(args=["token", "create", "--project", "p", "--name", "cam", "--json"]).stdout)
    client, headers = app.test_client(), auth(token["token"])
    app.config["SITETWIN_JOBS"] = "sync"
    capture = client.post("/api/v1/captures", json=body, headers=headers).get_json()["id"]
    assert put_video(client, token["token"], capture, (tmp_path / "walk.mp4").read_bytes()).status_code == 201
    assert client.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 202
    status = client.get(f"/api/v1/captures/{capture}", headers=headers).get_json()
    assert status["state"] == "processed", status
    assert status["frames_expected"] == status["frames_received"] == 3
    assert sum(status["stats"]["observations"].values()) > 0


def test_a_video_left_without_its_probe_by_a_crash_is_replaced_by_the_retry(api, app, tmp_path):
    from pathlib import Path

    client, a, _ = api
    capture = create(client, a, video_manifest()).get_json()["id"]
    (folder,) = Path(app.config["SITETWIN_DATA_DIR"]).glob(f"uploads/*/{capture}")
    (folder / "video.mp4").write_bytes(b"half of an earlier upload")  # the process died before the probe
    response = put_video(client, a, capture, mp4(tmp_path))
    assert response.status_code == 201, response.get_json()
    assert client.get(f"/api/v1/captures/{capture}", headers=auth(a)).get_json()["video"]["received"]

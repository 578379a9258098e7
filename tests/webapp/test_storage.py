"""Shared storage (webapp/storage.py): the data directory and an S3-compatible bucket behave alike,
no key reaches outside the store, and hosts that share nothing but the database, Redis and a
bucket process a capture exactly as one host on its own disk does.

The S3 server is moto's server mode, started here on a free port (a real HTTP S3 API, not a mock
of boto3)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, dispose, fresh_database, make_app
from tests.webapp.conftest import free_port, process_with_celery_workers
from webapp.storage import (
    LocalStorage,
    S3Storage,
    StorageError,
    StorageKeyError,
    make_s3_client,
    resolve_detector_weights,
    storage_from_config,
)

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sitetwin-test", "AWS_SECRET_ACCESS_KEY": "sitetwin-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible HTTP server (moto's server mode) for this module's tests."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per S3 request
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _s3_config(endpoint: str, data_dir: Path, bucket: str, prefix: str = "site") -> dict:
    return {"SITETWIN_DATA_DIR": str(data_dir), "SITETWIN_STORAGE_URL": f"s3://{bucket}/{prefix}",
            "S3_ENDPOINT_URL": endpoint, **CREDENTIALS}


@pytest.fixture
def bucket(s3_endpoint):
    name = f"sitetwin-{uuid.uuid4().hex[:12]}"
    make_s3_client({"S3_ENDPOINT_URL": s3_endpoint, **CREDENTIALS}).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "data")
    endpoint, bucket = request.getfixturevalue("s3_endpoint"), request.getfixturevalue("bucket")
    return storage_from_config(_s3_config(endpoint, tmp_path / "data", bucket))


def test_put_get_exists_list_delete(store):
    store.put("uploads/1/2/capture.json", b'{"a": 1}')
    store.put("uploads/1/2/frames/0.jpg", b"jpeg-0")
    store.put("uploads/1/3/capture.json", b"other capture")
    assert store.get("uploads/1/2/capture.json") == b'{"a": 1}'
    assert store.exists("uploads/1/2/frames/0.jpg") and not store.exists("uploads/1/2/frames/1.jpg")
    assert store.list("uploads/1/2") == ["uploads/1/2/capture.json", "uploads/1/2/frames/0.jpg"]
    assert store.list("uploads/1/2/") == store.list("uploads/1/2")
    assert store.list("uploads/9") == [] and store.list("uploads/1/2/frames/0") == []
    assert store.local("uploads/1/2/frames/0.jpg").read_bytes() == b"jpeg-0"
    store.delete("uploads/1/2/frames/0.jpg")
    store.delete("uploads/1/2/frames/0.jpg")  # absent: nothing happens
    assert not store.exists("uploads/1/2/frames/0.jpg")
    assert store.list("uploads/1/2") == ["uploads/1/2/capture.json"]


def test_a_file_is_stored_from_anywhere_and_a_dot_segment_is_the_same_key(store, tmp_path):
    source = tmp_path / "twin.npz"
    source.write_bytes(b"twin bytes")
    store.put_file("twins/abc.npz", source)
    assert store.get("./twins//abc.npz") == b"twin bytes"
    assert store.key_of(store.path("twins/abc.npz")) == "twins/abc.npz"
    store.put_file("twins/abc.npz", store.path("twins/abc.npz"))  # its own cached copy: unchanged
    assert store.get("twins/abc.npz") == b"twin bytes"


def test_a_missing_key_is_file_not_found_naming_it(store):
    for call in (store.get, store.local):
        with pytest.raises(FileNotFoundError, match="frames/ab/nothing.jpg"):
            call("frames/ab/nothing.jpg")
    assert not store.exists("frames/ab/nothing.jpg")


@pytest.mark.parametrize("key", ["../outside", "uploads/../../outside", "/etc/passwd", "a\\..\\outside",
                                 "a\x00b", "", ".", "uploads/.."])
def test_a_key_outside_the_store_is_refused_before_anything_is_touched(store, tmp_path, key):
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.exists(key),
                 lambda: store.delete(key), lambda: store.list(key), lambda: store.local(key)):
        with pytest.raises(StorageKeyError):
            call()
    assert not (tmp_path / "outside").exists() and not any(store.root.rglob("*"))
    with pytest.raises(StorageKeyError, match="not under the data directory"):
        store.key_of(tmp_path / "elsewhere.jpg")


def test_a_second_host_reads_what_the_first_stored_into_its_own_cache(s3_endpoint, bucket, tmp_path):
    first = storage_from_config(_s3_config(s3_endpoint, tmp_path / "host-a", bucket))
    second = storage_from_config(_s3_config(s3_endpoint, tmp_path / "host-b", bucket))
    first.put("frames/ab/ab.jpg", b"a frame")
    assert not second.path("frames/ab/ab.jpg").exists()
    assert second.exists("frames/ab/ab.jpg") and second.list("frames") == ["frames/ab/ab.jpg"]
    local = second.local("frames/ab/ab.jpg")
    assert local == tmp_path / "host-b" / "frames/ab/ab.jpg" and local.read_bytes() == b"a frame"
    assert not [p for p in (tmp_path / "host-b").rglob("*") if p.name.endswith(".tmp")]
    # Another prefix in the same bucket is another store.
    other = storage_from_config(_s3_config(s3_endpoint, tmp_path / "host-c", bucket, prefix="other/site"))
    assert not other.exists("frames/ab/ab.jpg") and other.list("frames") == []


def test_nothing_is_cached_that_the_bucket_did_not_take(s3_endpoint, tmp_path):
    """The bucket is written first: a file in a host's cache is always in the bucket too."""
    store = storage_from_config(_s3_config(s3_endpoint, tmp_path / "data", f"absent-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(Exception, match="NoSuchBucket"):
        store.put("uploads/1/1/capture.json", b"{}")
    assert not store.path("uploads/1/1/capture.json").exists()


def test_a_glb_built_on_one_host_is_served_by_another_without_building_it(s3_endpoint, bucket, tmp_path,
                                                                          monkeypatch):
    from types import SimpleNamespace

    from webapp import storage as storage_module
    from webapp.dashboard.files import _derived

    monkeypatch.setattr(storage_module, "_stores", {})
    hosts = [_s3_config(s3_endpoint, tmp_path / name, bucket) for name in ("web-a", "web-b")]
    for config in hosts:
        storage_module.init_app(SimpleNamespace(config=config, extensions={}))
    revision = SimpleNamespace(sha256="ab" * 32)
    built = []

    def build() -> bytes:
        built.append(1)
        return b"glTF model"

    first = _derived(hosts[0], revision, "model-x.glb", build)
    second = _derived(hosts[1], revision, "model-x.glb", build)
    assert built == [1] and first.read_bytes() == second.read_bytes() == b"glTF model"
    assert second.is_relative_to((tmp_path / "web-b").resolve())


def test_the_storage_url_is_checked(tmp_path):
    assert isinstance(storage_from_config({"SITETWIN_DATA_DIR": str(tmp_path)}), LocalStorage)
    for url in ("minio://bucket", "s3:///prefix-only", "/a/path"):
        with pytest.raises(StorageError, match="SITETWIN_STORAGE_URL"):
            storage_from_config({"SITETWIN_DATA_DIR": str(tmp_path), "SITETWIN_STORAGE_URL": url})
    store = storage_from_config({"SITETWIN_DATA_DIR": str(tmp_path), "SITETWIN_STORAGE_URL": "s3://b/x/y/",
                                 "S3_ENDPOINT_URL": "http://127.0.0.1:9", **CREDENTIALS})
    assert isinstance(store, S3Storage) and (store.bucket, store.prefix) == ("b", "x/y/")


def test_detector_weights_named_in_the_storage_are_fetched_once_to_a_local_file(s3_endpoint, bucket, tmp_path,
                                                                               monkeypatch):
    config = _s3_config(s3_endpoint, tmp_path / "worker", bucket)
    trainer = storage_from_config(_s3_config(s3_endpoint, tmp_path / "trainer", bucket))
    trainer.put("weights/best.pt", b"weights")
    from webapp import storage as storage_module

    monkeypatch.setattr(storage_module, "_stores", {})
    storage_module.init_app(type("App", (), {"config": config, "extensions": {}})())
    monkeypatch.setenv("SITETWIN_DETECTOR", "storage:weights/best.pt")
    resolve_detector_weights(config)
    path = Path(os.environ["SITETWIN_DETECTOR"])
    assert path == (tmp_path / "worker" / "weights/best.pt").resolve() and path.read_bytes() == b"weights"
    monkeypatch.setenv("SITETWIN_DETECTOR", "storage:weights/absent.pt")
    resolve_detector_weights(config)  # left for the detector to report, as a missing path is
    assert os.environ["SITETWIN_DETECTOR"] == "storage:weights/absent.pt"


def _jpeg(shade: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (512, 256), (shade, 90, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


def _manifest(files: list[str]) -> dict:
    frames = [{"file": name, "timestamp": f"2026-05-04T09:00:0{k}Z",
               "pose_prior": {"position": [1.0, 1.0, 1.6], "yaw": 0.0}} for k, name in enumerate(files)]
    return {"format": "sitetwin-capture/1", "capture_id": "walk-1", "device": "cam",
            "started_at": "2026-05-04T09:00:00Z", "frames": frames}


@pytest.mark.parametrize("kind", BACKENDS)
def test_an_upload_to_one_web_host_is_seen_by_another_that_shares_only_the_bucket(request, kind, tmp_path,
                                                                                   s3_endpoint, bucket):
    from twin.generate import generate_building

    generate_building(tmp_path / "b.ifc", storeys=1, bays=(1, 1), seed=1)
    bucket_config = _s3_config(s3_endpoint, tmp_path, bucket)
    del bucket_config["SITETWIN_DATA_DIR"]
    with fresh_database(request, kind, tmp_path) as url:
        hosts = [make_app(url, tmp_path / f"web-{k}", SITETWIN_JOBS="worker", **bucket_config)
                 for k in range(2)]
        try:
            runner = hosts[0].test_cli_runner()
            assert runner.invoke(args=["ingest", str(tmp_path / "b.ifc"), "--project", "p"]).exit_code == 0
            token = json.loads(runner.invoke(args=["token", "create", "--project", "p", "--name", "cam",
                                                   "--json"]).stdout)["token"]
            a, b = (host.test_client() for host in hosts)
            headers = {"Authorization": f"Bearer {token}"}
            manifest = _manifest(["frames/0.jpg", "frames/1.jpg", "frames/2.jpg"])
            response = a.post("/api/v1/captures", json=manifest, headers=headers)
            assert response.status_code == 201, response.get_json()
            capture = response.get_json()["id"]
            assert b.post("/api/v1/captures", json=manifest, headers=headers).status_code == 200  # the retry

            def put(client, index, data):
                return client.put(f"/api/v1/captures/{capture}/frames/{index}", headers=headers,
                                  data={"file": (io.BytesIO(data), "f.jpg")},
                                  content_type="multipart/form-data")

            assert put(a, 0, _jpeg(10)).status_code == 201
            assert put(b, 1, _jpeg(20)).status_code == 201
            status = b.get(f"/api/v1/captures/{capture}", headers=headers).get_json()
            assert (status["frames_received"], status["missing"]) == (2, [2])
            assert put(b, 0, _jpeg(10)).status_code == 200  # the same bytes again, from the other host
            refused = put(b, 0, _jpeg(30))
            assert refused.status_code == 409 and "frame 0" in refused.get_json()["error"]
            assert b.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 409
            assert put(a, 2, _jpeg(40)).status_code == 201
            assert b.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 202
            # Frame 1 went through host B to the bucket only; the bucket has every upload.
            assert not list((tmp_path / "web-0").rglob("1.jpg"))
            bucket_only = storage_from_config({**bucket_config, "SITETWIN_DATA_DIR": str(tmp_path / "x")})
            assert len([k for k in bucket_only.list("uploads") if k.endswith(".jpg")]) == 3
        finally:
            for host in hosts:
                dispose(host)


@pytest.mark.slow
def test_a_video_uploaded_to_the_web_host_is_made_into_frames_by_a_worker_that_shares_only_the_bucket(
        request, tmp_path, s3_endpoint, bucket):
    from tests.webapp.test_api_video import mp4, put_video, video_manifest
    from twin.generate import generate_building
    from webapp.jobs import claim_queued, prepare_capture

    generate_building(tmp_path / "b.ifc", storeys=1, bays=(1, 1), seed=1)
    bucket_config = _s3_config(s3_endpoint, tmp_path, bucket)
    del bucket_config["SITETWIN_DATA_DIR"]
    with fresh_database(request, "sqlite", tmp_path) as url:
        web, worker = (make_app(url, tmp_path / name, SITETWIN_JOBS="worker", **bucket_config)
                       for name in ("web", "worker"))
        try:
            runner = web.test_cli_runner()
            assert runner.invoke(args=["ingest", str(tmp_path / "b.ifc"), "--project", "p"]).exit_code == 0
            token = json.loads(runner.invoke(args=["token", "create", "--project", "p", "--name", "cam",
                                                   "--json"]).stdout)["token"]
            client = web.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            capture = client.post("/api/v1/captures", json=video_manifest(), headers=headers).get_json()["id"]
            assert put_video(client, token, capture, mp4(tmp_path)).status_code == 201
            assert client.post(f"/api/v1/captures/{capture}/finalise", headers=headers).status_code == 202
            claimed = claim_queued(worker)  # the worker takes it, as `sitetwin worker` does
            assert claimed is not None and claimed[0] == capture
            with worker.app_context():
                frames = prepare_capture(capture, claimed[1])
            assert frames and frames >= 2
            status = client.get(f"/api/v1/captures/{capture}", headers=headers).get_json()
            assert status["frames_expected"] == status["frames_received"] == frames and not status["missing"]
            bucket_only = storage_from_config({**bucket_config, "SITETWIN_DATA_DIR": str(tmp_path / "x")})
            assert sum(k.endswith(".jpg") for k in bucket_only.list("uploads")) == frames
            assert not [p for p in (tmp_path / "worker").rglob("*") if p.name.startswith(".video-")]
        finally:
            dispose(web)
            dispose(worker)


def test_a_manifest_naming_a_frame_outside_the_capture_is_refused(api, db_session):
    from webapp.models import Capture

    client, token, _ = api
    headers = {"Authorization": f"Bearer {token}"}
    for name in ("frames\\0.jpg", "a\u0000.jpg"):
        response = client.post("/api/v1/captures", json=_manifest([name]), headers=headers)
        assert response.status_code == 400 and "error" in response.get_json(), (name, response.get_json())
    assert db_session.scalar(select(Capture)) is None


# --- Two hosts that share nothing but the database, Redis and a bucket ---------------------------------


def _stored_results(app, capture_id: int) -> dict:
    """What processing stored, without ids and clock times: the capture, its frames, their
    observations (by frame index), the fused statuses and their history, the project's report."""
    from webapp.extensions import db
    from webapp.models import Capture, ElementStatus, ElementStatusChange, Frame, Observation, ProgressReport

    with app.app_context():
        session = db.session
        capture = session.get(Capture, capture_id)
        stats = {k: v for k, v in (capture.stats or {}).items() if k != "timing_per_frame"}
        frames = session.execute(select(Frame.index, Frame.file, Frame.sha256, Frame.taken_at, Frame.width,
                                        Frame.height, Frame.pose_prior, Frame.pose, Frame.registration)
                                 .where(Frame.capture_id == capture_id).order_by(Frame.index)).all()
        observations = session.execute(
            select(Frame.index, Observation.global_id, Observation.kind, Observation.stage,
                   Observation.confidence, Observation.visible_pixels, Observation.region)
            .join(Frame, Frame.id == Observation.frame_id).where(Frame.capture_id == capture_id)
            .order_by(Frame.index, Observation.global_id)).all()
        statuses = session.execute(
            select(ElementStatus.global_id, ElementStatus.stage, ElementStatus.probability,
                   ElementStatus.first_seen, ElementStatus.last_seen, ElementStatus.reached_at,
                   ElementStatus.needs_review)
            .order_by(ElementStatus.global_id)).all()
        history = session.execute(
            select(ElementStatusChange.global_id, ElementStatusChange.stage,
                   ElementStatusChange.previous_stage, ElementStatusChange.probability,
                   ElementStatusChange.needs_review, ElementStatusChange.changed_at)
            .order_by(ElementStatusChange.global_id, ElementStatusChange.changed_at)).all()
        reports = [r.report for r in session.scalars(select(ProgressReport))]
        db.session.remove()
    return {"capture": (capture.key, capture.state, capture.progress, capture.error, stats),
            "frames": [tuple(r) for r in frames], "observations": [tuple(r) for r in observations],
            "statuses": [tuple(r) for r in statuses], "history": [tuple(r) for r in history],
            "reports": reports}


def _upload(app, runner, walk: Path) -> tuple:
    """Token, capture and every frame through the API (as a camera on the site would)."""
    result = runner.invoke(args=["token", "create", "--project", "p", "--name", "cam", "--json"])
    token = json.loads(result.stdout)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token['token']}"}
    text = json.dumps(json.loads((walk / "capture.json").read_text())).replace('"2027-', '"2026-')
    response = client.post("/api/v1/captures", data=text, content_type="application/json", headers=headers)
    assert response.status_code == 201, response.get_json()
    capture = response.get_json()["id"]
    for index, frame in enumerate(json.loads(text)["frames"]):
        response = client.put(f"/api/v1/captures/{capture}/frames/{index}", headers=headers,
                              data={"file": (io.BytesIO((walk / frame["file"]).read_bytes()), "f.jpg")},
                              content_type="multipart/form-data")
        assert response.status_code == 201, response.get_json()
    return client, headers, capture


def _check_the_bucket_holds_what_the_web_host_serves(app, capture: int, web_dir: Path) -> None:
    """Nothing reached the web host's disk but what it wrote itself: the stored frames are in the
    bucket (and the workers' caches), fetched here on demand with the bytes that were hashed."""
    from webapp.extensions import db
    from webapp.models import Frame
    from webapp.storage import storage

    assert not (web_dir / "frames").exists()
    with app.app_context():
        frames = db.session.scalars(select(Frame).where(Frame.capture_id == capture)).all()
        store = storage(app.config)
        assert frames and all(store.exists(f.file) for f in frames)
        fetched = [hashlib.sha256(store.local(f.file).read_bytes()).hexdigest() for f in frames]
        assert fetched == [f.sha256 for f in frames]
        db.session.remove()


def _process_once(request, kind: str, root: Path, model: Path, walk: Path, broker: str, shared: dict) -> dict:
    """Ingest, upload and process the walk with two Celery workers: on one data directory (``shared``
    empty) or, with ``shared`` naming a bucket, on a web and two worker directories of their own."""
    root.mkdir()
    with fresh_database(request, kind, root) as url:
        app = make_app(url, root / "web", CELERY_BROKER_URL=broker, **shared)
        try:
            runner = app.test_cli_runner()
            assert runner.invoke(args=["ingest", str(model), "--project", "p"]).exit_code == 0
            if not walk.exists():
                result = runner.invoke(args=["simulate-capture", "--project", "p", "--date", "2027-01-20",
                                             "--frames", "3", "--width", "512", "--seed", "1",
                                             "--out", str(walk)])
                assert result.exit_code == 0, result.stderr
            client, headers, capture = _upload(app, runner, walk)
            env = {k: v for k, v in os.environ.items() if k != "SITETWIN_STORAGE_URL"}
            env.update(shared, CELERY_BROKER_URL=broker, DATABASE_URL=url, SITETWIN_AUTO_MIGRATE="0",
                       SITETWIN_CHUNK_FRAMES="1")
            data_dirs = [root / "worker-0", root / "worker-1"] if shared else [root / "web"] * 2
            status, log = process_with_celery_workers(client, headers, capture, env, data_dirs, root)
            assert status.get("state") == "processed", (status, log[-3000:])
            assert log.count("Task sitetwin.register_chunk") >= 3
            assert "Task sitetwin.finish_capture" in log
            if shared:
                _check_the_bucket_holds_what_the_web_host_serves(app, capture, root / "web")
                for worker in data_dirs:  # each worker fetched the manifest into its own directory
                    assert list((worker / "uploads").rglob("capture.json")), worker
            return _stored_results(app, capture)
        finally:
            dispose(app)


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_workers_sharing_only_a_bucket_store_what_workers_on_one_disk_do(request, kind, tmp_path, s3_endpoint,
                                                                         bucket):
    """The same capture, uploaded to a web host and processed by two Celery workers (one frame per
    chunk): once on one shared data directory, once on three hosts' own directories whose only
    shared storage is the bucket. The stored results are the same."""
    import redis

    from twin.generate import generate_building

    # One broker for both runs (Celery's producer keeps its first connection), emptied before each.
    broker = "redis://127.0.0.1:6379/8"
    try:
        redis.Redis.from_url(broker).flushdb()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is needed on 127.0.0.1:6379 for the Celery workers: {error}")
    model, walk = tmp_path / "b.ifc", tmp_path / "walk"
    generate_building(model, storeys=1, bays=(2, 2), seed=4)
    bucket_config = _s3_config(s3_endpoint, tmp_path, bucket)
    del bucket_config["SITETWIN_DATA_DIR"]
    local = _process_once(request, kind, tmp_path / "local", model, walk, broker, {})
    redis.Redis.from_url(broker).flushdb()
    shared = _process_once(request, kind, tmp_path / "s3", model, walk, broker, bucket_config)
    assert shared["frames"] and shared["observations"]
    assert shared == local

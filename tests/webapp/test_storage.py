"""Shared storage (webapp/storage.py): the data directory and an S3-compatible bucket behave alike,
no key reaches outside the store, and hosts that share nothing but the database, Redis and a
bucket process a capture exactly as one host on its own disk does.

The S3 server is moto's server mode, started here on a free port (a real HTTP S3 API, not a mock
of boto3)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import BACKENDS, dispose, fresh_database, make_app
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible HTTP server (moto's server mode) for this module's tests."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
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

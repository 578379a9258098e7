"""Where files live: the data directory (the default), or an S3-compatible bucket shared by hosts.

Everything a second worker host would need from the first one's disk goes through a
:class:`Storage`: uploaded frames, videos and manifests, stored frames, twin caches and IFC copies,
derived plans and GLBs, detector weights. Keys are relative POSIX paths (``frames/ab/ab….jpg``),
the same as the files' paths under ``SITETWIN_DATA_DIR``.

- :class:`LocalStorage`: the files are ``SITETWIN_DATA_DIR/<key>`` (unchanged behaviour).
- :class:`S3Storage` (``SITETWIN_STORAGE_URL=s3://bucket/prefix``): the objects are
  ``<prefix>/<key>`` in the bucket; ``SITETWIN_DATA_DIR`` is this host's cache of them. Objects are
  written to the bucket first and then to the cache, and fetched into the cache on demand
  (:meth:`Storage.local`), so a file in the cache is always in the bucket too. Every stored object
  is written once and never changed (content-addressed, or refused when it would change), so a
  cached copy never goes stale.

A key that is absolute, names ``..``, or holds a backslash or NUL is refused
(:class:`StorageKeyError`) before anything is touched: no key reaches outside the data directory
or the prefix.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class StorageKeyError(ValueError):
    """A key that is not a plain relative path inside the store (the message names it)."""


class StorageError(RuntimeError):
    """The storage is misconfigured or unreachable (the message names the setting or bucket)."""


def clean_key(key: str) -> str:
    """``key`` as a canonical relative POSIX path (``a/./b`` → ``a/b``); raises :class:`StorageKeyError`."""
    if not isinstance(key, str) or not key or "\\" in key or "\x00" in key or key.startswith("/"):
        raise StorageKeyError(f"storage key {key!r}: not a relative path")
    parts = [part for part in key.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise StorageKeyError(f"storage key {key!r}: not a path inside the store")
    return "/".join(parts)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_copy(source: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


class Storage:
    """A store of immutable files by key, with a local directory (``root``) that holds or caches them."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """Where the file of ``key`` is (or would be cached) on this host; nothing is fetched."""
        return self.root / clean_key(key)

    def key_of(self, path: str | os.PathLike) -> str:
        """The key of a file under :attr:`root` (raises :class:`StorageKeyError` for one outside it)."""
        try:
            return clean_key(Path(os.path.abspath(path)).relative_to(self.root).as_posix())
        except ValueError as error:
            raise StorageKeyError(f"{path}: not under the data directory") from error

    # The interface each store implements.
    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def put_file(self, key: str, source: str | os.PathLike) -> None:
        """Store the file ``source`` (which may be :meth:`path` of ``key`` itself) under ``key``."""
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        """The bytes of ``key``; raises :class:`FileNotFoundError` naming the key when it is absent."""
        return self.local(key).read_bytes()

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix``, sorted (no temporary files)."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens when it is absent)."""
        raise NotImplementedError

    def local(self, key: str) -> Path:
        """The file of ``key`` on this host, fetched into the cache first when needed; raises
        :class:`FileNotFoundError` naming the key when it is stored nowhere."""
        raise NotImplementedError

    def local_folder(self, prefix: str, names: Iterable[str] | None = None) -> Path:
        """The folder ``prefix`` on this host with ``names`` (relative to it; default: every key
        under it) fetched; names that are stored nowhere are left out (the caller reports them)."""
        folder = self.path(prefix)
        base = clean_key(prefix)
        keys = (f"{base}/{clean_key(n)}" for n in names) if names is not None else self.list(base)
        for key in keys:
            try:
                self.local(key)
            except FileNotFoundError:
                pass
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class LocalStorage(Storage):
    """The files under the data directory itself."""

    def describe(self) -> str:
        return f"the data directory {self.root}"

    def put(self, key: str, data: bytes) -> None:
        _atomic_write(self.path(key), data)

    def put_file(self, key: str, source: str | os.PathLike) -> None:
        target = self.path(key)
        if Path(os.path.abspath(source)) != target:
            _atomic_copy(Path(source), target)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted(path.relative_to(self.root).as_posix() for path in folder.rglob("*")
                      if path.is_file() and not _is_temporary(path.name))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def local(self, key: str) -> Path:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{clean_key(key)}: not stored")
        return path

    def local_folder(self, prefix: str, names: Iterable[str] | None = None) -> Path:
        return self.path(prefix)  # the files are here already: nothing to fetch, nothing to list


class S3Storage(Storage):
    """Objects ``<prefix>/<key>`` in an S3-compatible bucket, cached under ``root``.

    client: a boto3 S3 client (see :func:`make_s3_client`)."""

    def __init__(self, root: str | os.PathLike, bucket: str, prefix: str, client: Any):
        super().__init__(root)
        self.bucket = bucket
        self.prefix = clean_key(prefix) + "/" if prefix.strip("/") else ""
        self.client = client

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _name(self, key: str) -> str:
        return self.prefix + clean_key(key)

    @staticmethod
    def _missing(error: Exception) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data)
        _atomic_write(self.path(key), data)

    def put_file(self, key: str, source: str | os.PathLike) -> None:
        self.client.upload_file(str(source), self.bucket, self._name(key))
        target = self.path(key)
        if Path(os.path.abspath(source)) != target:
            _atomic_copy(Path(source), target)

    def exists(self, key: str) -> bool:
        if self.path(key).is_file():
            return True
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except Exception as error:
            if self._missing(error):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        start = self._name(prefix) + "/"
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            keys.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", ()))
        return sorted(keys)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        self.path(key).unlink(missing_ok=True)

    def local(self, key: str) -> Path:
        path = self.path(key)
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            self.client.download_file(self.bucket, self._name(key), str(tmp))
            os.replace(tmp, path)
        except Exception as error:
            if self._missing(error):
                raise FileNotFoundError(f"{clean_key(key)}: not stored") from error
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return path


def make_s3_client(config: Mapping[str, Any]):
    """A boto3 S3 client for ``S3_ENDPOINT_URL`` (MinIO, moto; empty: AWS) with the ``AWS_*``
    credentials of ``config`` (empty: boto3's usual chain: environment, files, instance role)."""
    import boto3
    from botocore.config import Config as BotoConfig

    options = {name.lower(): config.get(name) or None
               for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    return boto3.client("s3", endpoint_url=config.get("S3_ENDPOINT_URL") or None,
                        region_name=config.get("AWS_DEFAULT_REGION") or None,
                        config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"},
                                          s3={"addressing_style": "path"}),
                        **options)


def storage_from_config(config: Mapping[str, Any]) -> Storage:
    """The storage ``SITETWIN_STORAGE_URL`` names (empty: the data directory)."""
    url = str(config.get("SITETWIN_STORAGE_URL") or "").strip()
    root = config["SITETWIN_DATA_DIR"]
    if not url:
        return LocalStorage(root)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StorageError(f"SITETWIN_STORAGE_URL={url!r}: expected s3://bucket/prefix "
                           "(or empty for the data directory)")
    return S3Storage(root, parts.netloc, parts.path.strip("/"), make_s3_client(config))


_stores: dict[Path, Storage] = {}
_lock = threading.Lock()


def init_app(app) -> None:
    """Make the app's storage the one :func:`storage_at` returns for its data directory."""
    store = storage_from_config(app.config)
    with _lock:
        _stores[store.root] = store
    app.extensions["sitetwin_storage"] = store


def storage_at(data_dir: str | os.PathLike) -> Storage:
    """The storage configured for ``data_dir`` by an app of this process (a plain
    :class:`LocalStorage` for a directory no app configured)."""
    root = Path(data_dir).resolve()
    with _lock:
        store = _stores.get(root)
    return store if store is not None else LocalStorage(root)


def storage(config: Mapping[str, Any]) -> Storage:
    """The storage of an app's ``config`` (its data directory's)."""
    return storage_at(config["SITETWIN_DATA_DIR"])


#: ``SITETWIN_DETECTOR=storage:weights/best.pt``: weights taken from the storage.
STORAGE_WEIGHTS = "storage:"


def resolve_detector_weights(config: Mapping[str, Any]) -> None:
    """Point ``SITETWIN_DETECTOR`` at a local copy when it names weights in the storage.

    The detector (:mod:`vision`) reads a file path from the environment; weights kept in the bucket
    are fetched into this host's cache once and the variable set to that file. Missing weights are
    left for the detector to report (``storage:…`` is not a file), as a missing path is."""
    setting = os.environ.get("SITETWIN_DETECTOR", "")
    if not setting.startswith(STORAGE_WEIGHTS):
        return
    try:
        path = storage(config).local(setting[len(STORAGE_WEIGHTS):])
    except FileNotFoundError:
        return
    os.environ["SITETWIN_DETECTOR"] = str(path)

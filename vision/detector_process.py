"""The detector in a child process, so that detection and registration run on two cores at once.

Processing a capture is a pipeline: while one frame is registered, the next is detected. On two
threads of one interpreter the stages mostly took turns: Open3D's ray casts hold the GIL, and so
does ultralytics between PyTorch's kernels, so detection beside registration took 0.40-0.44 s a
frame instead of 0.28 s. A :class:`DetectorProcess` runs :func:`vision.detect.detect_frame` in a
child interpreter instead; the parent sends it frames (NumPy arrays through a pipe, about 1.5 MB a
1024-px frame) and gets :class:`vision.detect.Detection` lists back.

It answers like a :class:`vision.detect.Detector` wherever processing takes one (``detect``,
``reliability``, ``path``, ``tile_size``, ``confidence``); its settings are fixed when it starts.
:func:`shared_detector` keeps one per process for background jobs, which would otherwise load
weights (and start a child) for every capture.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import numpy as np

from vision.detect import Detection, Detector, DetectorError, load_detector, warm_up, weights_path

#: Seconds to wait for the child to load its weights and run once (imports take 2-3 s).
START_TIMEOUT = 120.0


def _serve(connection, path: str | None, tile_size: int | None) -> None:
    """The child: load the detector, say so (or why not), then detect every frame it is sent.

    Its standard output is its standard error: stdout belongs to the parent's one JSON object."""
    import sys

    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from vision.detect import detect_frame

    try:
        detector = load_detector(path, tile_size)
        warm_up(detector)
    except DetectorError as error:
        connection.send(("error", str(error)))
        return
    except Exception as error:  # noqa: BLE001 - any failure to load is the parent's start-up error
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ready", {"path": str(detector.path), "tile_size": detector.tile_size,
                               "confidence": detector.confidence, "reliability": detector.reliability}))
    while True:
        try:
            image = connection.recv()
        except EOFError:  # the parent is gone
            return
        if image is None:
            return
        try:
            connection.send(("ok", detect_frame(image, detector)))
        except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it
            connection.send(("error", f"{type(error).__name__}: {error}"))


class DetectorProcess:
    """A detector served by a child process (see the module docstring).

    path: weights (default: ``SITETWIN_DETECTOR`` or the bundled ones). Raises
    :class:`vision.detect.DetectorError` when the weights cannot be loaded, before it returns.
    Use it as a context manager, or call :meth:`close`; the child also ends with its parent.
    """

    def __init__(self, path: str | os.PathLike | None = None, tile_size: int | None = None):
        # spawn, not fork: the parent may hold threads (Open3D's, a web server's) and their locks
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, str(path) if path else None, tile_size),
                                         name="sitetwin-detector", daemon=True)
        self._lock = threading.Lock()
        self._process.start()
        child.close()
        if not self._connection.poll(START_TIMEOUT):
            self.close()
            raise DetectorError(f"the detector process did not start within {START_TIMEOUT:.0f} s")
        kind, payload = self._receive()
        if kind != "ready":
            self.close()
            raise DetectorError(payload)
        self.path = Path(payload["path"])
        self.tile_size: int = payload["tile_size"]
        self.confidence: float = payload["confidence"]
        self.reliability: dict[str, float] = payload["reliability"]

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def _ended(self) -> DetectorError:
        return DetectorError(f"the detector process ended (exit code {self._process.exitcode})")

    def _receive(self):
        try:
            return self._connection.recv()
        except (EOFError, OSError) as error:
            raise self._ended() from error

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections on an RGB equirectangular frame, as :func:`vision.detect.detect_frame` gives."""
        with self._lock:
            try:
                self._connection.send(np.ascontiguousarray(image))
            except OSError as error:  # BrokenPipeError among them
                raise self._ended() from error
            kind, payload = self._receive()
        if kind != "ok":
            raise DetectorError(f"detection failed in the detector process: {payload}")
        return payload

    def close(self) -> None:
        """Stop the child (idempotent)."""
        if self._process.is_alive():
            try:
                self._connection.send(None)
            except OSError:
                pass
            self._process.join(5)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._connection.close()

    def __enter__(self) -> DetectorProcess:
        return self

    def __exit__(self, *_) -> None:
        self.close()


_shared: tuple[Path, DetectorProcess | Detector] | None = None
_shared_lock = threading.Lock()


def shared_detector() -> DetectorProcess | Detector:
    """This process's detector for the current weights (``SITETWIN_DETECTOR`` or the bundled
    ones): a :class:`DetectorProcess`, started on first use and again when the weights named change
    or its child has ended. A daemonic process (a Celery prefork worker) may not start children: it
    gets the detector loaded in-process instead (Celery already runs one such process per core).
    Raises :class:`vision.detect.DetectorError` as :class:`DetectorProcess` does."""
    global _shared
    path = weights_path()
    with _shared_lock:
        if _shared is not None:
            requested, detector = _shared
            if requested == path and getattr(detector, "alive", True):
                return detector
            if isinstance(detector, DetectorProcess):
                detector.close()
            _shared = None
        if multiprocessing.current_process().daemon:
            detector = load_detector(path)
            warm_up(detector)
        else:
            detector = DetectorProcess(path)
        _shared = (path, detector)
        return detector

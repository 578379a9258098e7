"""Simulate a worker's helmet-camera walk through a storey of the as-built twin, with ground truth.

The walk stays in free space at helmet height: candidate points on a grid over the storey are
kept where a floor is underfoot and nothing built is within :data:`CLEARANCE` metres; neighbours
with a clear line of sight are joined, and the walk follows shortest paths between random free
points, taking a frame every 1–2 m. Each frame gets a pose prior with the error a tracking app
has: a slowly drifting offset (an AR(1) random walk whose spread is the configured σ) plus jitter.

The capture is written in the upload format (``docs/capture-format.md``): ``frames/*.jpg`` and
``capture.json``, plus ``ground_truth.json`` (true poses, every element's true stage, and per
frame the visible elements with their pixel counts, taken from the rendered id image).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from twin.model import Twin
from vision.pose import Pose
from vision.render import Appearance, RenderScene, render_equirect

CLEARANCE = 0.35  # metres from the nearest built surface at walking heights
GRID_STEP = 0.5  # metres between candidate walk points
HELMET = (1.6, 1.9)  # camera height above the floor, metres
CAPTURE_FORMAT = "sitetwin-capture/1"
#: What a simulated camera knows of where it is (:func:`simulate_capture`'s ``prior``).
PRIORS = ("noisy", "start", "none")
#: σ (metres) of a start point tapped on the floor plan.
START_SIGMA_M = 0.3


@dataclass(frozen=True)
class PoseNoise:
    """Pose-prior error: position σ (metres), yaw σ (degrees), pitch/roll σ (degrees), and how
    strongly consecutive errors are correlated (``drift`` in [0, 1): 0 is pure jitter)."""

    position_sigma: float = 0.3
    yaw_sigma_deg: float = 5.0
    tilt_sigma_deg: float = 1.0
    drift: float = 0.9


@dataclass
class CaptureResult:
    """What :func:`simulate_capture` wrote."""

    out_dir: Path
    frames: int
    path_length: float
    true_poses: list[Pose]
    prior_poses: list[Pose]


def storey_extent(twin: Twin, storey: str) -> tuple[np.ndarray, np.ndarray, float]:
    elevation = next(s.elevation for s in twin.storeys if s.global_id == storey)
    rows = [i for i, e in enumerate(twin.elements) if e.storey == storey]
    boxes = twin.geometry.aabb[rows]
    boxes = boxes[np.isfinite(boxes[:, 0])]
    if not len(boxes):
        raise ValueError(f"storey {storey} has no elements with geometry to walk among")
    return boxes[:, :2].min(axis=0), boxes[:, 3:5].max(axis=0), elevation


def floors(twin: Twin) -> np.ndarray:
    """(N,) bool: elements one can stand on: slabs, floor coverings and footings (a ground floor
    bearing on its footing, as IfcOpenHouse models it). Not a suspended ceiling whose top happens
    to lie near a storey's elevation (Office_A's, where no slab is modelled), nor a steel base plate
    (ISSUE_021's)."""
    return np.array([e.ifc_class.startswith(("IfcSlab", "IfcFooting"))
                     or (e.ifc_class.startswith("IfcCovering") and e.predefined_type == "FLOORING")
                     for e in twin.elements], dtype=bool)


def free_points(scene, lo: np.ndarray, hi: np.ndarray, elevation: float,
                floor_mask: np.ndarray, step: float = GRID_STEP) -> np.ndarray:
    """(M, 2) grid points (world x, y), ``step`` metres apart, of a storey where one can stand:
    floor below, clearance around.

    floor_mask: (N,) bool, the elements that count as floor (:func:`floors`).
    """
    xs = np.arange(lo[0] + step / 2, hi[0], step)
    ys = np.arange(lo[1] + step / 2, hi[1], step)
    gx, gy = np.meshgrid(xs, ys, indexing="ij")
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if not len(points):
        return points
    origins = np.column_stack([points, np.full(len(points), elevation + 1.0)])
    down = scene.cast(origins, np.array([0.0, 0.0, -1.0]))
    on_floor = np.append(floor_mask, False)[down.element]  # a miss (-1) is no floor
    floor = (np.abs(down.distance - 1.0) < 0.3) & on_floor
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    directions = np.column_stack([np.cos(angles), np.sin(angles), np.zeros_like(angles)])
    clear = floor.copy()
    for height in (0.3, 1.0, 1.75):
        o = np.column_stack([points, np.full(len(points), elevation + height)])
        hits = scene.cast(o[:, None, :], directions[None, :, :])
        clear &= hits.distance.min(axis=1) >= CLEARANCE
    return points[clear]


def _line_of_sight(scene, a: np.ndarray, b: np.ndarray, elevation: float) -> np.ndarray:
    """(K,) bool: segments a[k]→b[k] (x, y) are free at walking heights, with clearance at both ends."""
    delta = b - a
    length = np.linalg.norm(delta, axis=1)
    direction = np.column_stack([delta / length[:, None], np.zeros(len(a))])
    ok = np.ones(len(a), bool)
    normal = np.column_stack([-direction[:, 1], direction[:, 0], np.zeros(len(a))])
    for height in (0.3, 1.0, 1.75):
        for side in (-CLEARANCE * 0.8, 0.0, CLEARANCE * 0.8):
            origins = np.column_stack([a, np.full(len(a), elevation + height)]) + normal * side
            ok &= scene.cast(origins, direction).distance > length
    return ok


def plan_walk(scene, lo, hi, elevation: float, frames: int, rng: np.random.Generator,
              floor_mask: np.ndarray) -> np.ndarray:
    """(frames, 2) frame positions (x, y) along a walk through free space, 1–2 m apart (floor_mask:
    as in :func:`free_points`)."""
    points = free_points(scene, lo, hi, elevation, floor_mask)
    if len(points) < 2:
        raise ValueError("no free floor space to walk on this storey in this as-built state")
    cells = np.floor((points - lo) / GRID_STEP).astype(int)
    index = {tuple(c): i for i, c in enumerate(cells)}
    pairs = []
    for dx, dy in ((1, 0), (0, 1), (1, 1), (1, -1)):
        for i, c in enumerate(cells):
            j = index.get((c[0] + dx, c[1] + dy))
            if j is not None:
                pairs.append((i, j))
    pairs = np.array(pairs, dtype=int).reshape(-1, 2)
    ok = _line_of_sight(scene, points[pairs[:, 0]], points[pairs[:, 1]], elevation) if len(pairs) else []
    neighbours: list[list[int]] = [[] for _ in points]
    for (i, j), good in zip(pairs, ok, strict=True):
        if good:
            neighbours[i].append(j)
            neighbours[j].append(i)
    # Walk within the largest connected region.
    component = np.full(len(points), -1)
    for start in range(len(points)):
        if component[start] >= 0:
            continue
        component[start] = start
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if component[nxt] < 0:
                    component[nxt] = start
                    queue.append(nxt)
    largest = np.bincount(component).argmax()
    region = np.flatnonzero(component == largest)
    if len(region) < 2:
        raise ValueError("free floor space on this storey is too fragmented to walk")

    def shortest(a: int, b: int) -> list[int]:
        previous = {a: a}
        queue = deque([a])
        while queue and b not in previous:
            node = queue.popleft()
            for nxt in neighbours[node]:
                if nxt not in previous:
                    previous[nxt] = node
                    queue.append(nxt)
        path = [b]
        while path[-1] != a:
            path.append(previous[path[-1]])
        return path[::-1]

    route = [int(rng.choice(region))]
    spacing = rng.uniform(1.0, 2.0, frames)
    needed = spacing.sum() + 2.0
    length = 0.0
    guard = 0
    while length < needed and guard < 200:
        guard += 1
        target = int(rng.choice(region))
        if target == route[-1]:
            continue
        leg = shortest(route[-1], target)[1:]
        for node in leg:
            length += float(np.linalg.norm(points[node] - points[route[-1]]))
            route.append(node)
    polyline = points[route]
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(seg)])
    stations = np.minimum(np.cumsum(spacing) - spacing[0] + 0.5, cumulative[-1])
    xs = np.interp(stations, cumulative, polyline[:, 0])
    ys = np.interp(stations, cumulative, polyline[:, 1])
    return np.column_stack([xs, ys])


def _ar1(rng: np.random.Generator, n: int, sigma: float, rho: float, dims: int) -> np.ndarray:
    """(n, dims) stationary AR(1) series with marginal σ = sigma and correlation rho."""
    out = np.zeros((n, dims))
    if sigma == 0 or n == 0:
        return out
    out[0] = rng.normal(0.0, sigma, dims)
    innovation = sigma * math.sqrt(1.0 - rho * rho)
    for k in range(1, n):
        out[k] = rho * out[k - 1] + rng.normal(0.0, innovation, dims)
    return out


def simulate_capture(twin: Twin, state: np.ndarray, storey: str, out_dir: str | Path, frames: int = 10,
                     seed: int = 0, pose_noise: PoseNoise = PoseNoise(), width: int = 2048,
                     start_time: dt.datetime | None = None, appearance: Appearance | None = None,
                     render_scene: RenderScene | None = None, capture_id: str | None = None,
                     prior: str = "noisy") -> CaptureResult:
    """Walk ``frames`` frames through ``storey`` (GlobalId) of the as-built ``state``; write the capture.

    state: (N,) true stage per element. width: panorama width in pixels (height = width / 2).
    start_time: time of the first frame (UTC); frames follow at walking pace (~1 m/s).
    prior: what the camera knows of where it is (:data:`PRIORS`): ``noisy``, a pose prior per frame
    with ``pose_noise``'s error (a tracking app); ``start``, the storey and a start point tapped on
    the plan (σ :data:`START_SIGMA_M`, no heading) and per frame only gravity from the IMU (σ
    ``pose_noise.tilt_sigma_deg``); ``none``, gravity alone (no storey, no start).
    """
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    rng = np.random.default_rng(seed)
    scene = render_scene or RenderScene(twin)
    built = scene.scene(state)
    lo, hi, elevation = storey_extent(twin, storey)
    xy = plan_walk(built, lo, hi, elevation, frames, rng, floors(twin))
    heading = np.arctan2(np.gradient(xy[:, 1]), np.gradient(xy[:, 0])) if len(xy) > 1 else np.zeros(1)
    height = elevation + rng.uniform(*HELMET)
    true = [Pose(float(x), float(y), float(height + rng.normal(0, 0.02)), float(h + rng.normal(0, 0.15)),
                 float(rng.normal(0, math.radians(2))), float(rng.normal(0, math.radians(1.5))))
            for (x, y), h in zip(xy, heading, strict=True)]
    position_error = _ar1(rng, len(true), pose_noise.position_sigma, pose_noise.drift, 2)
    yaw_error = _ar1(rng, len(true), math.radians(pose_noise.yaw_sigma_deg), pose_noise.drift, 1)[:, 0]
    tilt_error = rng.normal(0.0, math.radians(pose_noise.tilt_sigma_deg), (len(true), 2))
    priors = [Pose(p.x + e[0], p.y + e[1], p.z + rng.normal(0, 0.05), p.yaw + ey, p.pitch + et[0],
                   p.roll + et[1])
              for p, e, ey, et in zip(true, position_error, yaw_error, tilt_error, strict=True)]
    start_time = start_time or dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
    gaps = np.concatenate([[0.0], np.linalg.norm(np.diff(xy, axis=0), axis=1)]) * 1.0 + 1.0
    times = [start_time + dt.timedelta(seconds=float(s)) for s in np.cumsum(gaps)]

    out_dir = Path(out_dir)
    (out_dir / "frames").mkdir(parents=True, exist_ok=True)
    appearance = appearance or Appearance.randomised(seed)
    global_ids = [e.global_id for e in twin.elements]
    frame_entries, truth_frames = [], []
    for k, (pose, prior_pose, when) in enumerate(zip(true, priors, times, strict=True)):
        render = render_equirect(scene, pose, width, state, appearance)
        name = f"frames/{k:06d}.jpg"
        ok, buffer = cv2.imencode(".jpg", render.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        (out_dir / name).write_bytes(buffer.tobytes())
        rows, counts = np.unique(render.element[render.element >= 0], return_counts=True)
        entry = {"file": name, "timestamp": when.isoformat().replace("+00:00", "Z")}
        if prior == "noisy":
            entry["pose_prior"] = prior_pose.as_dict()
        else:  # the IMU's gravity: the prior's pitch and roll carry its error
            entry["gravity"] = {"pitch": prior_pose.pitch, "roll": prior_pose.roll}
        frame_entries.append(entry)
        truth_frames.append({"file": name, "pose": pose.as_dict(),
                             "visible": {global_ids[r]: int(c) for r, c in zip(rows, counts, strict=True)}})
    capture = {
        "format": CAPTURE_FORMAT,
        "capture_id": capture_id or f"sim-{storey}-{start_time:%Y%m%d}-{seed}",
        "device": "sitetwin-simulator",
        "started_at": times[0].isoformat().replace("+00:00", "Z"),
        "storey": storey,
        "frames": frame_entries,
    }
    if prior == "none":
        del capture["storey"]
    elif prior == "start":
        tap = rng.normal(0.0, START_SIGMA_M, 2)
        capture["start"] = {"position": [float(true[0].x + tap[0]), float(true[0].y + tap[1])]}
    truth = {
        "format": CAPTURE_FORMAT,
        "date": start_time.date().isoformat(),
        "stages": {gid: int(s) for gid, s in zip(global_ids, state, strict=True)},
        "frames": truth_frames,
        "pose_noise": {"position_sigma": pose_noise.position_sigma, "yaw_sigma_deg": pose_noise.yaw_sigma_deg,
                       "tilt_sigma_deg": pose_noise.tilt_sigma_deg, "drift": pose_noise.drift},
    }
    (out_dir / "capture.json").write_text(json.dumps(capture, indent=1))
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=1))
    path_length = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
    return CaptureResult(out_dir, len(true), path_length, true, priors)

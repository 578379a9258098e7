"""Render any as-built state of a twin: equirectangular or pinhole frames with per-pixel element ids.

One ray per pixel goes through the twin's Open3D raycasting scene built over the elements that
exist in the as-built ``state`` (an unbuilt wall is seen through). Shading is numpy over whole
images: a colour per (tracked class, stage) from :class:`Appearance`, a procedural texture that
tells stages apart (steel studs of a framed wall, board seams of a boarded one, the grid of a
ceiling), Lambert lighting from the hit normals, then optional sensor noise, blur and a JPEG
round trip. The same renderer makes training images, simulated walks and the demo's frames.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from twin import taxonomy
from twin.model import Twin
from twin.scene import MISS, ElementScene
from vision.equirect import world_rays
from vision.pose import Pose

UNTRACKED = len(taxonomy.CLASSES)  # class index of physical elements nobody tracks (furniture...)
_MAX_STAGE = max(c.final_stage for c in taxonomy.CLASSES)

# Texture patterns.
PLAIN, STUDS, BOARDS, GRID, SPECKLE = range(5)

# Base colours (RGB 0..1) and pattern per (class, stage); stage 1.. of the class.
_PALETTE: dict[tuple[str, int], tuple[tuple[float, float, float], int]] = {
    ("wall", 1): ((0.62, 0.64, 0.68), STUDS),      # galvanised studs
    ("wall", 2): ((0.80, 0.80, 0.78), BOARDS),     # grey plasterboard with seams
    ("wall", 3): ((0.93, 0.90, 0.82), PLAIN),      # painted
    ("ceiling", 1): ((0.55, 0.56, 0.58), GRID),    # suspension grid, open
    ("ceiling", 2): ((0.95, 0.95, 0.93), GRID),    # tiles in the grid
    ("column", 1): ((0.60, 0.60, 0.58), SPECKLE),
    ("beam", 1): ((0.58, 0.57, 0.55), SPECKLE),
    ("slab", 1): ((0.52, 0.51, 0.49), SPECKLE),
    ("door", 1): ((0.55, 0.36, 0.20), PLAIN),
    ("window", 1): ((0.45, 0.62, 0.72), PLAIN),
    ("stair", 1): ((0.50, 0.50, 0.48), SPECKLE),
    ("railing", 1): ((0.20, 0.20, 0.22), PLAIN),
    ("pipe", 1): ((0.72, 0.42, 0.22), PLAIN),
    ("duct", 1): ((0.78, 0.80, 0.82), PLAIN),
    ("cable_tray", 1): ((0.85, 0.75, 0.15), PLAIN),
    ("light_fixture", 1): ((0.98, 0.98, 0.90), PLAIN),
    ("outlet", 1): ((0.97, 0.97, 0.97), PLAIN),
    ("equipment", 1): ((0.30, 0.45, 0.60), PLAIN),
}
_UNTRACKED_COLOUR = ((0.45, 0.45, 0.45), PLAIN)
_SKY = np.array([0.72, 0.80, 0.90], np.float32)
_GROUND = np.array([0.45, 0.40, 0.34], np.float32)


@dataclass(frozen=True)
class Appearance:
    """How frames look. The default is canonical colours, no noise: deterministic renders.

    seed: randomises colours (``colour_jitter`` fraction per channel) and the light direction.
    noise: sensor noise σ in 8-bit grey levels. blur: Gaussian σ in pixels (0: none).
    jpeg_quality: encode and decode as JPEG at this quality (None: no).
    ambient: share of light that does not depend on the surface orientation.
    """

    seed: int | None = None
    colour_jitter: float = 0.0
    texture: bool = True
    noise: float = 0.0
    blur: float = 0.0
    jpeg_quality: int | None = None
    ambient: float = 0.55
    light: tuple[float, float, float] = (0.35, 0.25, 0.90)

    @classmethod
    def randomised(cls, seed: int) -> Appearance:
        """Domain randomisation for training and simulated walks (seeded)."""
        rng = np.random.default_rng(seed)
        light = rng.normal(size=3) * [1.0, 1.0, 0.4] + [0, 0, 1.0]
        return cls(seed=seed, colour_jitter=0.08, noise=float(rng.uniform(1.0, 5.0)),
                   blur=float(rng.choice([0.0, 0.0, 0.6, 1.0])), jpeg_quality=int(rng.integers(70, 95)),
                   ambient=float(rng.uniform(0.4, 0.7)), light=tuple(float(v) for v in light))

    def palette(self) -> tuple[np.ndarray, np.ndarray]:
        """(colours (C+1, S+1, 3) float32, patterns (C+1, S+1) int) by class index and stage."""
        colours = np.zeros((UNTRACKED + 1, _MAX_STAGE + 1, 3), np.float32)
        patterns = np.zeros((UNTRACKED + 1, _MAX_STAGE + 1), np.int8)
        for ci, tracked in enumerate(taxonomy.CLASSES):
            for stage in range(1, _MAX_STAGE + 1):
                colour, pattern = _PALETTE[(tracked.name, min(stage, tracked.final_stage))]
                colours[ci, stage], patterns[ci, stage] = colour, pattern
        colours[UNTRACKED, :], patterns[UNTRACKED, :] = _UNTRACKED_COLOUR
        colours[:, 0] = colours[:, 1]
        patterns[:, 0] = patterns[:, 1]
        if self.seed is not None and self.colour_jitter:
            rng = np.random.default_rng(self.seed)
            colours *= 1.0 + rng.uniform(-self.colour_jitter, self.colour_jitter, colours.shape).astype(np.float32)
        return np.clip(colours, 0.0, 1.0), patterns


@dataclass
class Render:
    """A rendered frame. Shapes (H, W) follow the image.

    rgb: uint8 (H, W, 3). element: int32 element row of the twin, -1 where nothing is hit.
    depth: float32 metres along each pixel's ray (inf where nothing is hit).
    normal: float32 (H, W, 3) world-frame unit normal of the surface hit.
    """

    rgb: np.ndarray
    element: np.ndarray
    depth: np.ndarray
    normal: np.ndarray


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: focal lengths and principal point in pixels, image size in pixels.

    Camera looks along its +x axis (the pose's forward), image u to the right, v down.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
        return cls(f, f, width / 2, height / 2, width, height)

    def camera_directions(self) -> np.ndarray:
        """(H, W, 3) float32 unit directions in the camera frame (x forward, y left, z up)."""
        v, u = np.mgrid[0:self.height, 0:self.width].astype(np.float32)
        d = np.stack([np.ones_like(u), -(u + 0.5 - self.cx) / self.fx, -(v + 0.5 - self.cy) / self.fy], axis=-1)
        return d / np.linalg.norm(d, axis=-1, keepdims=True)


@dataclass
class RenderScene:
    """A twin prepared for rendering: element → class lookup and a raycasting scene per state.

    Scenes are cached by state (a few at a time): rendering many frames of one as-built state
    builds the scene once.
    """

    twin: Twin
    cache_size: int = 4
    _scenes: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def __post_init__(self) -> None:
        index = {c.name: i for i, c in enumerate(taxonomy.CLASSES)}
        self.class_index = np.array([index.get(e.tracked_class, UNTRACKED) for e in self.twin.elements]
                                    + [UNTRACKED], dtype=np.int16)  # last entry: MISS (-1)
        self.final_stage = np.array([taxonomy.BY_NAME[e.tracked_class].final_stage if e.tracked_class else 1
                                     for e in self.twin.elements], dtype=np.int8)

    def full_state(self) -> np.ndarray:
        """Every element at its final stage (the finished building)."""
        return self.final_stage.astype(np.int8)

    def scene(self, state: np.ndarray | None) -> ElementScene:
        state = self.full_state() if state is None else np.asarray(state)
        if state.shape != (len(self.twin.elements),):
            raise ValueError(f"state must have one stage per element ({len(self.twin.elements)}), got {state.shape}")
        key = hashlib.blake2b((state > 0).tobytes(), digest_size=16).digest()
        if key not in self._scenes:
            self._scenes[key] = self.twin.scene(state > 0)
            while len(self._scenes) > self.cache_size:
                self._scenes.popitem(last=False)
        self._scenes.move_to_end(key)
        return self._scenes[key]


def _hash_noise(cells: np.ndarray) -> np.ndarray:
    """Deterministic value noise in [-1, 1] from integer cell coordinates (..., 3)."""
    h = (cells[..., 0] * 73856093) ^ (cells[..., 1] * 19349663) ^ (cells[..., 2] * 83492791)
    return ((h & 0xFFFF).astype(np.float32) / 32767.5) - 1.0


def _texture(pattern: np.ndarray, points: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Brightness factor (n,) of each hit from its pattern, world hit point and normal."""
    factor = np.ones(len(pattern), np.float32)
    vertical = np.abs(normal[:, 2]) < 0.5
    # Coordinate along a vertical surface (horizontal, in its plane), metres.
    tangent_x, tangent_y = -normal[:, 1], normal[:, 0]
    along = np.where(vertical, points[:, 0] * tangent_x + points[:, 1] * tangent_y, points[:, 0])
    studs = pattern == STUDS
    if studs.any():
        phase = np.mod(along[studs], 0.6)
        factor[studs] = np.where(phase < 0.06, 1.25, np.where(phase < 0.09, 0.35, 0.55))
    boards = pattern == BOARDS
    if boards.any():
        seam = np.minimum(np.mod(along[boards], 1.2), 1.2 - np.mod(along[boards], 1.2)) < 0.01
        factor[boards] = np.where(seam, 0.7, 1.0)
    grid = pattern == GRID
    if grid.any():
        gx = np.minimum(np.mod(points[grid, 0], 0.6), 0.6 - np.mod(points[grid, 0], 0.6))
        gy = np.minimum(np.mod(points[grid, 1], 0.6), 0.6 - np.mod(points[grid, 1], 0.6))
        factor[grid] = np.where(np.minimum(gx, gy) < 0.02, 0.6, 1.0)
    speckle = pattern == SPECKLE
    if speckle.any():
        cells = np.floor(points[speckle] * 20.0).astype(np.int64)
        factor[speckle] = 1.0 + 0.06 * _hash_noise(cells)
    return factor


def shade(scene: RenderScene, state: np.ndarray | None, directions: np.ndarray, origins: np.ndarray,
          element: np.ndarray, depth: np.ndarray, normal: np.ndarray, appearance: Appearance,
          rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 image (H, W, 3) for hits already cast (see :func:`render_equirect`).

    Works on whole images through lookup tables: an element's row picks its class and stage
    (the extra last row stands for a miss), class and stage pick colour and pattern.
    """
    state = scene.full_state() if state is None else np.asarray(state)
    colours, patterns = appearance.palette()
    stage_of = np.append(np.clip(state, 1, _MAX_STAGE), 1).astype(np.int16)
    look = scene.class_index * (_MAX_STAGE + 1) + stage_of  # per element row (+ miss row)
    look = look[element]  # element == -1 picks the miss row
    light = np.asarray(appearance.light, np.float32)
    light /= np.linalg.norm(light)
    brightness = np.abs(normal @ light)
    brightness *= 1.0 - appearance.ambient
    brightness += appearance.ambient
    if appearance.texture:
        pattern = patterns.reshape(-1)[look]
        textured = (pattern != PLAIN) & (element != MISS)
        if textured.any():
            points = origins + directions[textured] * depth[textured, None]
            brightness[textured] *= _texture(pattern[textured], points, normal[textured])
    image = colours.reshape(-1, 3)[look]
    image *= (brightness * 255.0)[..., None]
    miss = element == MISS
    if miss.any():
        image[miss] = np.where(directions[miss][:, 2:3] > 0, _SKY, _GROUND) * 255.0
    if appearance.noise:
        image += rng.normal(0.0, appearance.noise, image.shape).astype(np.float32)
    rgb = np.clip(image, 0, 255).astype(np.uint8)
    if appearance.blur:
        rgb = cv2.GaussianBlur(rgb, (0, 0), appearance.blur)
    if appearance.jpeg_quality:
        ok, buffer = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, appearance.jpeg_quality])
        rgb = cv2.imdecode(buffer, cv2.IMREAD_COLOR)[..., ::-1].copy()
    return rgb


def _render(scene: RenderScene, origins: np.ndarray, directions: np.ndarray, state, appearance) -> Render:
    appearance = appearance or Appearance()
    hits = scene.scene(state).cast(origins, directions)
    rng = np.random.default_rng(appearance.seed)
    rgb = shade(scene, state, directions, origins, hits.element, hits.distance, hits.normal, appearance, rng)
    return Render(rgb=rgb, element=hits.element, depth=hits.distance, normal=hits.normal)


def render_equirect(scene: RenderScene, pose: Pose, width: int, state: np.ndarray | None = None,
                    appearance: Appearance | None = None) -> Render:
    """Render a width × width/2 panorama at ``pose`` of the as-built ``state``.

    state: (N,) stage per element (0 = not built: not rendered, rays pass through it);
        None renders the finished building.
    """
    origin, directions = world_rays(pose, width)
    return _render(scene, origin, directions, state, appearance)


def render_perspective(scene: RenderScene, pose: Pose, intrinsics: Intrinsics, state: np.ndarray | None = None,
                       appearance: Appearance | None = None) -> Render:
    """Render a pinhole image with ``intrinsics`` looking along the pose's forward axis."""
    directions = intrinsics.camera_directions() @ pose.rotation.T.astype(np.float32)
    return _render(scene, pose.position.astype(np.float32), directions, state, appearance)

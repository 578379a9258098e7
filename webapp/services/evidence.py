"""Evidence pictures: the part of a stored 360° frame where an element was seen, outlined.

Regions are panorama pixels ``(u0, v0, u1, v1)`` of the frame as uploaded (u right, v down); a
region that wraps past the panorama's seam has ``u1 < u0`` or ``u1 > width`` and is cropped from
the frame rolled so that it is contiguous.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def evidence_jpeg(
    frame_path: str | Path,
    region: Sequence[float] | None,
    max_width: int = 640,
    margin: float = 0.6,
    outline: str = "#ff1744",
) -> bytes:
    """A JPEG crop around ``region`` with it outlined (the whole frame, scaled, when None).

    ``margin``: context around the region, as a share of its size on each side."""
    with Image.open(frame_path) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    if region is None:
        image.thumbnail((max_width, max_width))
        return _jpeg(image)
    u0, v0, u1, v1 = (float(x) for x in region)
    if u1 < u0:  # wraps the seam: roll the panorama so the region is contiguous
        u1 += width
    shift = 0
    if u1 > width:
        shift = int(u0)
        image = Image.fromarray(np.roll(np.asarray(image), -shift, axis=1))
        u0, u1 = u0 - shift, u1 - shift
    # Context around the region; a thin element (a pipe, a rail) still gets a readable picture:
    # at least a sixth of the panorama's height each way, and no flatter than 3:1.
    du = max((u1 - u0) * (1 + 2 * margin), height / 6)
    dv = max((v1 - v0) * (1 + 2 * margin), height / 6, du / 3)
    cu, cv = (u0 + u1) / 2, (v0 + v1) / 2
    box = (max(0, int(cu - du / 2)), max(0, int(cv - dv / 2)),
           min(width, int(cu + du / 2) + 1), min(height, int(cv + dv / 2) + 1))
    crop = image.crop(box)
    draw = ImageDraw.Draw(crop)
    line = max(2, round(max(crop.size) / 200))
    draw.rectangle((u0 - box[0], v0 - box[1], u1 - box[0], v1 - box[1]), outline=outline, width=line)
    if crop.width > max_width:
        crop = crop.resize((max_width, max(1, round(crop.height * max_width / crop.width))))
    return _jpeg(crop)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()

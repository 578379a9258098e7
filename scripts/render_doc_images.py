"""Render the example frames shown in docs/ (a real model and a generated building).

    .venv/bin/python scripts/render_doc_images.py
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twin.asbuilt import stage_timeline, stages_at, tasks_from_ifc  # noqa: E402
from twin.generate import generate_building  # noqa: E402
from twin.ifc import open_model  # noqa: E402
from twin.model import build_twin  # noqa: E402
from vision.pose import Pose  # noqa: E402
from vision.render import Appearance, RenderScene, render_equirect  # noqa: E402

OUT = REPO / "docs" / "images"


def save(name: str, rgb: np.ndarray, element: np.ndarray) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(OUT / f"{name}.jpg"), cv2.resize(rgb, (1024, 512))[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    # The element-id image, one colour per element, for a reader to see what ground truth looks like.
    palette = np.random.default_rng(0).integers(40, 255, (element.max() + 2, 3)).astype(np.uint8)
    palette[-1] = 0
    ids = palette[element]
    cv2.imwrite(str(OUT / f"{name}-ids.png"), cv2.resize(ids, (1024, 512), interpolation=cv2.INTER_NEAREST))


def main() -> None:
    real = REPO.parent / "shared" / "ifc" / "AC20-FZK-Haus.ifc"
    twin = build_twin(open_model(real))
    render = render_equirect(RenderScene(twin), Pose(6.0, 6.5, 1.6, yaw=0.5), 2048, None, Appearance())
    save("render-fzk-haus", render.rgb, render.element)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.ifc"
        generate_building(path, storeys=2, bays=(3, 2), seed=0)
        model = open_model(path)
        twin = build_twin(model)
        tasks = tasks_from_ifc(model, {e.global_id: e.storey for e in twin.elements})
        timeline, epoch = stage_timeline(twin.global_ids, [e.tracked_class if e.physical else None
                                                           for e in twin.elements],
                                         [e.storey for e in twin.elements], tasks, seed=1)
        state = stages_at(timeline, epoch, dt.date(2027, 2, 8))
        render = render_equirect(RenderScene(twin), Pose(9.0, 3.0, 1.7, yaw=0.3), 2048, state, Appearance())
        save("render-generated", render.rgb, render.element)


if __name__ == "__main__":
    main()

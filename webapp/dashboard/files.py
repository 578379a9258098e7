"""Files derived from a revision's twin for the pages: a floor plan (SVG) and a 3D model (GLB) per
storey. They never change for a revision, so each is built once, written atomically under
``DATA/derived/<revision sha256>/`` and served from disk after that (any process, any worker)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from webapp.models import ModelRevision, Storey
from webapp.services.twins import load_revision_twin


def _derived(
    config: Mapping[str, Any], revision: ModelRevision, name: str, build: Callable[[], bytes]
) -> Path:
    path = Path(config["SITETWIN_DATA_DIR"]) / "derived" / revision.sha256 / name
    if not path.is_file():
        data = build()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


def storey_plan_file(config: Mapping[str, Any], revision: ModelRevision, storey: Storey) -> Path:
    """The storey's floor plan as SVG: one ``<path data-gid=…>`` per element, in metres (see plan_svg)."""
    from webapp.dashboard.plan_svg import plan_svg

    def build() -> bytes:
        twin = load_revision_twin(revision, config["SITETWIN_DATA_DIR"])
        return plan_svg(twin, storey.global_id).encode()

    return _derived(config, revision, f"plan-{storey.global_id}.svg", build)


def storey_glb_file(config: Mapping[str, Any], revision: ModelRevision, storey: Storey) -> Path:
    """The storey's elements as a GLB, one node per element named by its GlobalId."""
    from twin.gltf import storey_glb, storey_rows

    def build() -> bytes:
        twin = load_revision_twin(revision, config["SITETWIN_DATA_DIR"])
        return storey_glb(twin, storey_rows(twin, storey.global_id))

    return _derived(config, revision, f"model-{storey.global_id}.glb", build)

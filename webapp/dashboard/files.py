"""Files derived from a revision's twin for the pages: a floor plan (SVG) and a 3D model (GLB) per
storey. They never change for a revision, so each is built once, written atomically under
``derived/<revision sha256>/`` in the storage (the data directory or the shared bucket) and served
from this host's disk after that (any process, any worker, any host)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from webapp.models import ModelRevision, Storey
from webapp.services.twins import load_revision_twin
from webapp.storage import storage


def _derived(
    config: Mapping[str, Any], revision: ModelRevision, name: str, build: Callable[[], bytes]
) -> Path:
    store, key = storage(config), f"derived/{revision.sha256}/{name}"
    try:
        return store.local(key)
    except FileNotFoundError:
        store.put(key, build())
        return store.path(key)


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

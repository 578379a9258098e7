"""Ingest an IFC file into a project: a new model revision, its storeys, elements and twin cache.

All database writes happen in one transaction after the file has been read and tessellated, so a
bad file or a crash leaves the database exactly as it was. The twin cache and the stored copy of
the IFC file are keyed by the file's SHA-256: writing them twice is harmless.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from twin.ifc import file_sha256, open_model
from twin.model import Twin, build_twin, save_twin
from twin.schedule.clean import clean_text
from webapp.db import analyze
from webapp.models import Element, ModelRevision, Project, Storey
from webapp.storage import storage_at


@dataclass
class IngestResult:
    """What ``sitetwin ingest --json`` prints. ``unchanged`` is True when the file was already ingested."""

    project: str
    revision: int
    schema: str
    elements: int
    with_geometry: int
    storeys: int
    triangles: int
    seconds: float
    sha256: str
    unchanged: bool = False
    diff: dict[str, int] = field(default_factory=lambda: {"added": 0, "removed": 0, "changed": 0})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _content_hash(values: tuple) -> str:
    return hashlib.blake2b(json.dumps(values, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def element_rows(twin: Twin, revision_id: int, storey_ids: dict[str, int]) -> list[dict]:
    """Rows for the ``elements`` table, one per twin element (``row`` = its index in the twin)."""
    geometry = twin.geometry
    triangle_counts = np.bincount(geometry.triangle_element, minlength=len(twin.elements))
    # Millimetre rounding: a re-issue that moves nothing but float noise is not a change.
    aabb = np.round(geometry.aabb, 3)
    rows = []
    for row, element in enumerate(twin.elements):
        box = aabb[row]
        box_values = [None] * 6 if np.isnan(box[0]) else [float(v) for v in box]
        content = (
            element.ifc_class, element.predefined_type, element.name, element.type_name, element.storey,
            element.materials, element.properties, element.assembly, box_values,
        )
        rows.append({
            "revision_id": revision_id,
            "row": row,
            "global_id": element.global_id,
            "ifc_class": element.ifc_class,
            "predefined_type": element.predefined_type,
            "name": element.name,
            "type_name": element.type_name,
            "storey_id": storey_ids.get(element.storey) if element.storey else None,
            "tracked_class": element.tracked_class,
            "physical": element.physical,
            "assembly_global_id": element.assembly,
            "materials": element.materials,
            "properties": element.properties,
            "has_shape": bool(geometry.shaped[row]),
            "triangles": int(triangle_counts[row]),
            "min_x": box_values[0], "min_y": box_values[1], "min_z": box_values[2],
            "max_x": box_values[3], "max_y": box_values[4], "max_z": box_values[5],
            "content_hash": _content_hash(content),
        })
    return rows


def revision_diff(session: Session, previous: ModelRevision | None, rows: list[dict]) -> dict[str, int]:
    """Added / removed / changed element counts against ``previous``, matched by GlobalId."""
    if previous is None:
        return {"added": len(rows), "removed": 0, "changed": 0}
    before = dict(session.execute(
        select(Element.global_id, Element.content_hash).where(Element.revision_id == previous.id)
    ).all())
    after = {r["global_id"]: r["content_hash"] for r in rows}
    return {
        "added": len(after.keys() - before.keys()),
        "removed": len(before.keys() - after.keys()),
        "changed": sum(1 for gid in after.keys() & before.keys() if after[gid] != before[gid]),
    }


def _existing_result(project: Project, revision: ModelRevision, seconds: float) -> IngestResult:
    return IngestResult(
        project=project.name, revision=revision.number, schema=revision.schema,
        elements=revision.element_count, with_geometry=revision.with_geometry,
        storeys=len(revision.storeys), triangles=revision.triangles, seconds=seconds,
        sha256=revision.sha256, unchanged=True, diff={"added": 0, "removed": 0, "changed": 0},
    )


def check_project_name(name: str) -> None:
    """Refuse a new project's name that could not go into an alert's subject: empty, over 200
    characters, or with a control character or line break (:func:`twin.schedule.clean_text`)."""
    if not name or len(name) > 200 or clean_text(name) != name:
        raise ValueError(f"project name {name!r}: 1 to 200 characters without control characters, "
                         "line breaks or spaces at either end")


def ingest_model(session: Session, path: str | os.PathLike, project_name: str, data_dir: str | os.PathLike,
                 threads: int | None = None, progress: Callable[[int], None] | None = None) -> IngestResult:
    """Ingest ``path`` into project ``project_name`` (created if new).

    The same file again is a no-op reporting the existing revision. Raises
    :class:`twin.ifc.IfcReadError` for an unreadable file, before anything is written.
    """
    started = time.perf_counter()
    path = Path(path)
    sha256 = file_sha256(path) if path.is_file() else ""
    project = session.scalar(select(Project).where(Project.name == project_name))
    if project is None:
        check_project_name(project_name)
    if project is not None and sha256:
        existing = session.scalar(
            select(ModelRevision).where(ModelRevision.project_id == project.id, ModelRevision.sha256 == sha256)
        )
        if existing is not None:
            return _existing_result(project, existing, time.perf_counter() - started)

    model = open_model(path)
    twin = build_twin(model, threads=threads, progress=progress)
    del model
    data_dir = Path(data_dir)
    twin_rel = f"twins/{sha256}.npz"
    save_twin(twin, data_dir / twin_rel)
    store = storage_at(data_dir)  # the data directory, or the bucket every host shares
    store.put_file(twin_rel, data_dir / twin_rel)
    if not store.exists(f"models/{sha256}.ifc"):
        store.put_file(f"models/{sha256}.ifc", path)

    try:
        if project is None:
            project = Project(name=project_name)
            session.add(project)
            session.flush()
        previous = session.scalar(
            select(ModelRevision).where(ModelRevision.project_id == project.id)
            .order_by(ModelRevision.number.desc()).limit(1)
        )
        revision = ModelRevision(
            project_id=project.id,
            number=(previous.number + 1) if previous else 1,
            sha256=sha256,
            schema=twin.schema,
            source_name=path.name,
            element_count=len(twin.elements),
            with_geometry=int(twin.geometry.shaped.sum()),
            triangles=len(twin.geometry.triangles),
            twin_path=twin_rel,
        )
        session.add(revision)
        session.flush()
        storeys = [Storey(revision_id=revision.id, global_id=s.global_id, name=s.name, elevation=s.elevation)
                   for s in twin.storeys]
        session.add_all(storeys)
        session.flush()
        rows = element_rows(twin, revision.id, {s.global_id: s.id for s in storeys})
        revision.diff = revision_diff(session, previous, rows)
        if rows:
            session.execute(insert(Element), rows)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    analyze(session, Storey, Element)
    return IngestResult(
        project=project.name, revision=revision.number, schema=revision.schema,
        elements=revision.element_count, with_geometry=revision.with_geometry, storeys=len(storeys),
        triangles=revision.triangles, seconds=round(time.perf_counter() - started, 3), sha256=sha256,
        diff=revision.diff,
    )

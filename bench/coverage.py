"""Storey coverage and assembly parts at 150,000 elements on PostgreSQL: the two queries the
overview, the plan page and progress add for "unknown is not late" (#23).

A scratch schema gets 150,000 tracked elements with geometry over 20 storeys (every 50th group
of ten a shapeless assembly of nine parts), statuses for three quarters of them (70 % of those
seen), then times :func:`webapp.services.elements._count_coverage` (one grouped query over
elements ⟕ statuses, one over captures) and :func:`webapp.services.assemblies.assembly_parts`,
best of 3, uncached. The schema is dropped afterwards.

    .venv/bin/python bench/coverage.py

Needs PostgreSQL on localhost (TEST_POSTGRES_URL's server, as the tests).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from webapp.models import Base, Element, ElementStatus, ModelRevision, Project, Storey  # noqa: E402
from webapp.services.assemblies import assembly_parts  # noqa: E402
from webapp.services.elements import _count_coverage  # noqa: E402

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@localhost/test")
ELEMENTS, STOREYS = 150_000, 20


def _fill(session: Session) -> tuple[Project, ModelRevision]:
    project = Project(name="p")
    session.add(project)
    session.flush()
    revision = ModelRevision(project_id=project.id, number=1, sha256="x", schema="IFC4", source_name="x",
                             twin_path="x")
    session.add(revision)
    session.flush()
    storeys = [Storey(revision_id=revision.id, global_id=f"S{i:021d}", name=f"L{i}", elevation=3.0 * i)
               for i in range(STOREYS)]
    session.add_all(storeys)
    session.flush()

    def assembly(k: int) -> bool:  # the first of each tenth group of ten in 500
        return k % 500 < 10 and k % 10 == 0

    session.execute(sa.insert(Element), [
        {"revision_id": revision.id, "row": k, "global_id": f"G{k:021d}", "ifc_class": "IfcWall",
         "storey_id": storeys[k % STOREYS].id, "tracked_class": "wall", "physical": True,
         "triangles": 0 if assembly(k) else 12, "content_hash": "h", "materials": [], "properties": {},
         "assembly_global_id": f"G{(k // 10) * 10:021d}" if k % 500 < 10 and not assembly(k) else None}
        for k in range(ELEMENTS)])
    rng = random.Random(1)
    seen_at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    session.execute(sa.insert(ElementStatus), [
        {"project_id": project.id, "global_id": f"G{k:021d}", "stage": rng.randint(0, 1), "probability": 0.9,
         "first_seen": seen_at if rng.random() < 0.7 else None, "last_seen": seen_at, "reached_at": []}
        for k in range(ELEMENTS) if k % 20 < 15])
    session.commit()
    session.execute(sa.text("ANALYZE"))
    return project, revision


def best_of(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    admin = sa.create_engine(URL)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = sa.create_engine(f"{URL}?options=-csearch_path%3D{schema}")
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            project, revision = _fill(session)
            coverage_s, coverage = best_of(lambda: _count_coverage(session, project, revision))
            parts_s, parts = best_of(lambda: assembly_parts(session, revision))
        engine.dispose()
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    result = {"elements": ELEMENTS, "storeys": len(coverage), "coverage_ms": round(1000 * coverage_s),
              "assemblies": len(parts), "assembly_parts_ms": round(1000 * parts_s)}
    print(json.dumps(result))  # noqa: T201 (a script's output)


if __name__ == "__main__":
    main()

"""Assemblies without geometry of their own (an IfcStair, IfcRamp or IfcRoof whose flights, railings
and slabs carry the shapes): which tracked parts stand for each, as recorded at ingest
(``Element.assembly_global_id``, from IfcRelAggregates).

No camera can see such an assembly, only its parts: its status is derived from theirs
(:func:`webapp.services.elements.assembly_statuses`) and progress counts it through them
(:func:`twin.progress.expand_assemblies`), once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from webapp.models import Element, ModelRevision


def shapeless_assemblies(revision: ModelRevision):
    """A subquery of the GlobalIds of the revision's physical elements without triangles that
    aggregate parts (the parts' ``assembly_global_id``)."""
    part = aliased(Element)
    return (
        select(Element.global_id)
        .where(Element.revision_id == revision.id, Element.physical, Element.triangles == 0,
               Element.global_id.in_(select(part.assembly_global_id).where(
                   part.revision_id == revision.id, part.assembly_global_id.is_not(None))))
    )


def tracked_parts_query(revision: ModelRevision):
    """(assembly GlobalId, part GlobalId) of the tracked parts with geometry of the revision's
    shapeless assemblies (:func:`shapeless_assemblies`); the rows callers join statuses onto."""
    return (
        select(Element.assembly_global_id, Element.global_id)
        .where(Element.revision_id == revision.id, Element.physical, Element.triangles > 0,
               Element.tracked_class.is_not(None),
               Element.assembly_global_id.in_(shapeless_assemblies(revision)))
    )


def assembly_parts(session: Session, revision: ModelRevision) -> dict[str, list[str]]:
    """Assembly GlobalId → GlobalIds of its tracked parts with geometry, for the revision's
    shapeless assemblies that have any (one query; the index ``ix_elements_revision_assembly``)."""
    parts: dict[str, list[str]] = {}
    for whole, part in session.execute(tracked_parts_query(revision).order_by(Element.global_id)):
        parts.setdefault(whole, []).append(part)
    return parts

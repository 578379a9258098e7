"""Projects and their model revisions: the twin as stored rows (storeys and elements per revision)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, utcnow


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # IANA time zone of the site: the daily slip check runs at its local time.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    revisions: Mapped[list[ModelRevision]] = relationship(
        back_populates="project", order_by="ModelRevision.number"
    )


class ModelRevision(Base):
    """One issue of the IFC model. ``number`` counts from 1 per project; ``sha256`` identifies the file."""

    __tablename__ = "model_revisions"
    __table_args__ = (
        UniqueConstraint("project_id", "number"),
        UniqueConstraint("project_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    schema: Mapped[str] = mapped_column(String(32))
    source_name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    element_count: Mapped[int] = mapped_column(default=0)
    with_geometry: Mapped[int] = mapped_column(default=0)
    triangles: Mapped[int] = mapped_column(default=0)
    # Path of the twin cache (.npz) relative to the data directory.
    twin_path: Mapped[str] = mapped_column(String(500))
    # Element changes against the previous revision: {"added": n, "removed": n, "changed": n}.
    diff: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    project: Mapped[Project] = relationship(back_populates="revisions")
    storeys: Mapped[list[Storey]] = relationship(back_populates="revision", order_by="Storey.elevation")


class Storey(Base):
    """An IfcBuildingStorey of a revision. ``elevation`` in metres (world frame, z up)."""

    __tablename__ = "storeys"
    __table_args__ = (UniqueConstraint("revision_id", "global_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("model_revisions.id", ondelete="CASCADE"))
    global_id: Mapped[str] = mapped_column(String(22))
    name: Mapped[str] = mapped_column(Text)
    elevation: Mapped[float]

    revision: Mapped[ModelRevision] = relationship(back_populates="storeys")


class Element(Base):
    """An IfcElement of a revision. AABB in metres, world frame; NULL when it has no triangles.

    ``row`` is the element's index in the revision's twin cache (mesh arrays are indexed by it).
    ``content_hash`` fingerprints what a re-issue can change, to diff revisions cheaply.
    """

    __tablename__ = "elements"
    __table_args__ = (
        UniqueConstraint("revision_id", "global_id"),
        Index("ix_elements_revision_storey", "revision_id", "storey_id"),
        Index("ix_elements_revision_class", "revision_id", "tracked_class"),
        # The parts of an assembly (an IfcStair's flight and railing), whose statuses make its own.
        Index("ix_elements_revision_assembly", "revision_id", "assembly_global_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("model_revisions.id", ondelete="CASCADE"))
    row: Mapped[int]
    global_id: Mapped[str] = mapped_column(String(22))
    ifc_class: Mapped[str] = mapped_column(String(64))
    predefined_type: Mapped[Optional[str]] = mapped_column(Text)
    name: Mapped[Optional[str]] = mapped_column(Text)
    type_name: Mapped[Optional[str]] = mapped_column(Text)
    storey_id: Mapped[Optional[int]] = mapped_column(ForeignKey("storeys.id", ondelete="SET NULL"))
    tracked_class: Mapped[Optional[str]] = mapped_column(String(32))
    physical: Mapped[bool] = mapped_column(default=True)
    assembly_global_id: Mapped[Optional[str]] = mapped_column(String(22))
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    has_shape: Mapped[bool] = mapped_column(default=False)
    triangles: Mapped[int] = mapped_column(default=0)
    min_x: Mapped[Optional[float]]
    min_y: Mapped[Optional[float]]
    min_z: Mapped[Optional[float]]
    max_x: Mapped[Optional[float]]
    max_y: Mapped[Optional[float]]
    max_z: Mapped[Optional[float]]
    content_hash: Mapped[str] = mapped_column(String(32))


class ProgressReport(Base):
    """The last computed progress report of a project (see :mod:`webapp.services.reports`).

    ``key`` names everything the report was computed from (date, model revision, schedule version,
    last status change), so a page reads one row instead of recomputing 150,000 elements.
    """

    __tablename__ = "progress_reports"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

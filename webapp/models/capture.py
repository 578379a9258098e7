"""Captures (a walk of 360° frames), their frames, the observations made on them, and element status.

A capture is written in one transaction when it is processed, so a crash leaves no half capture;
observations are unique per (frame, element), so re-processing cannot duplicate them.
Element status is per project and GlobalId, so it survives model revisions; every change is kept
in ``element_status_history``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, utcnow


class Capture(Base):
    """One walk. ``key`` is the capture id from its manifest (unique per project)."""

    __tablename__ = "captures"
    __table_args__ = (UniqueConstraint("project_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    revision_id: Mapped[Optional[int]] = mapped_column(ForeignKey("model_revisions.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(200))
    device: Mapped[Optional[str]] = mapped_column(String(200))
    storey_global_id: Mapped[Optional[str]] = mapped_column(String(22))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # uploading → queued → processing → processed | failed
    state: Mapped[str] = mapped_column(String(16), default="uploading")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[Optional[str]] = mapped_column(Text)
    # Per-stage timings and counts of the last processing run.
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The lease of the worker processing it (``webapp.leases``): who, until when (renewed by its
    # heartbeat), and how many times it was taken; an expired lease is taken up again.
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    frames: Mapped[list[Frame]] = relationship(back_populates="capture", order_by="Frame.index")


class CaptureChunk(Base):
    """One chunk of a capture shared by Celery workers: frames ``first_index`` .. +``frames``,
    how many are registered (never counted twice when the chunk runs again), and its lease."""

    __tablename__ = "capture_chunks"

    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"), primary_key=True)
    first_index: Mapped[int] = mapped_column(primary_key=True)
    frames: Mapped[int]
    done: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Frame(Base):
    """One equirectangular frame. Poses: world frame, metres, radians (``docs/capture-format.md``)."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("capture_id", "index"), UniqueConstraint("capture_id", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    capture_id: Mapped[int] = mapped_column(ForeignKey("captures.id", ondelete="CASCADE"))
    index: Mapped[int]
    file: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    width: Mapped[int]
    height: Mapped[int]
    # [x, y, z, yaw, pitch, roll]
    pose_prior: Mapped[list[float]] = mapped_column(JSON)
    pose: Mapped[Optional[list[float]]] = mapped_column(JSON)
    registration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    capture: Mapped[Capture] = relationship(back_populates="frames")


class Observation(Base):
    """One frame's claim about one element (see :mod:`twin.fusion`)."""

    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("frame_id", "global_id"),
        Index("ix_observations_project_element", "project_id", "global_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    global_id: Mapped[str] = mapped_column(String(22))
    kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[int] = mapped_column(default=0)
    confidence: Mapped[float]
    visible_pixels: Mapped[int] = mapped_column(default=0)
    # Panorama pixels [u0, v0, u1, v1] of the element (detection or projection), or null.
    region: Mapped[Optional[list[float]]] = mapped_column(JSON)


class ElementStatus(Base):
    """The fused status of an element of a project, by GlobalId."""

    __tablename__ = "element_status"
    __table_args__ = (UniqueConstraint("project_id", "global_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    global_id: Mapped[str] = mapped_column(String(22))
    stage: Mapped[int] = mapped_column(default=0)
    probability: Mapped[float] = mapped_column(default=0.5)
    first_seen: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    # Per stage 1..stage, when it was first seen reached (ISO-8601).
    reached_at: Mapped[list[str]] = mapped_column(JSON, default=list)
    needs_review: Mapped[bool] = mapped_column(default=False)
    reviewed_stage: Mapped[Optional[int]]
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ElementStatusChange(Base):
    """A change of an element's status: what it became, when, and why (a capture or a reviewer)."""

    __tablename__ = "element_status_history"
    __table_args__ = (Index("ix_element_status_history_project_element", "project_id", "global_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    global_id: Mapped[str] = mapped_column(String(22))
    stage: Mapped[int]
    previous_stage: Mapped[int]
    probability: Mapped[float]
    needs_review: Mapped[bool] = mapped_column(default=False)
    capture_id: Mapped[Optional[int]] = mapped_column(ForeignKey("captures.id", ondelete="SET NULL"))
    reviewer: Mapped[Optional[str]] = mapped_column(String(200))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

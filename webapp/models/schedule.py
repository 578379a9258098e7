"""Schedules as stored: versions (a re-baseline keeps the old one), tasks, and task → element links."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, utcnow


class ScheduleVersion(Base):
    """One imported schedule of a project. ``number`` counts from 1; the highest is current."""

    __tablename__ = "schedule_versions"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    number: Mapped[int]
    name: Mapped[str] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(16))
    source_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    data_date: Mapped[Optional[dt.date]] = mapped_column(Date)
    # Problems skipped by a lenient import, as {"task": id, "field": ..., "message": ...}.
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    tasks: Mapped[list[Task]] = relationship(back_populates="schedule", order_by="Task.id")


class Task(Base):
    """A task of a schedule version. ``key`` is the task's id in its source file."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("schedule_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule_versions.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    parent_key: Mapped[Optional[str]] = mapped_column(String(200))
    planned_start: Mapped[dt.date] = mapped_column(Date)
    planned_finish: Mapped[dt.date] = mapped_column(Date)
    actual_start: Mapped[Optional[dt.date]] = mapped_column(Date)
    actual_finish: Mapped[Optional[dt.date]] = mapped_column(Date)
    trade: Mapped[Optional[str]] = mapped_column(String(200))
    weight_basis: Mapped[str] = mapped_column(String(16), default="count")
    # [[predecessor key, relation ("FS", "SS", "FF", "SF"), lag in days], ...]
    predecessors: Mapped[list[Any]] = mapped_column(JSON, default=list)

    schedule: Mapped[ScheduleVersion] = relationship(back_populates="tasks")


class TaskElement(Base):
    """An element (by GlobalId, across model revisions) that a task installs."""

    __tablename__ = "task_elements"
    __table_args__ = (Index("ix_task_elements_global_id", "global_id"),)

    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    global_id: Mapped[str] = mapped_column(String(22), primary_key=True)

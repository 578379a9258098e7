"""Alert rules, recipients, alerts (one per breach) and the outbox of messages with their attempts.

Exactly-once by construction, not by luck: at most one unresolved alert per (rule, task) is a
partial unique index; at most one message per (alert, recipient, channel) is a unique
constraint; a message is claimed with a row lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)
before it is sent, so two schedulers never send the same message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, utcnow

RULE_KINDS = ("slip_days", "behind_pct", "past_finish", "forecast_beyond")


class AlertRule(Base):
    """A condition on each task of the current schedule (optionally only a trade's or a storey's).

    slip_days: slip ≥ threshold days. behind_pct: planned − actual ≥ threshold percentage points.
    past_finish: past the planned finish and not complete. forecast_beyond: forecast finish after
    ``milestone``.
    """

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[float] = mapped_column(Float, default=0.0)
    milestone: Mapped[Optional[dt.date]] = mapped_column(Date)
    trade: Mapped[Optional[str]] = mapped_column(String(200))
    storey: Mapped[Optional[str]] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Recipient(Base):
    """Someone subscribed to a project's alerts, by email and/or phone, optionally for one trade or storey."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("project_id", "email", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[Optional[str]] = mapped_column(String(200))
    email: Mapped[Optional[str]] = mapped_column(String(320))
    phone: Mapped[Optional[str]] = mapped_column(String(32))
    trade: Mapped[Optional[str]] = mapped_column(String(200))
    storey: Mapped[Optional[str]] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class Alert(Base):
    """One breach of a rule by a task: opened → notified → resolved (and only then re-armed)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("uq_alerts_open_breach", "rule_id", "task_key", unique=True,
              sqlite_where=text("state != 'resolved'"), postgresql_where=text("state != 'resolved'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    notified_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    # The task's numbers when the alert opened: slip, planned/actual percent, forecast.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    rule: Mapped[AlertRule] = relationship()
    messages: Mapped[list[OutboxMessage]] = relationship(back_populates="alert")


class OutboxMessage(Base):
    """A message stored before it is sent; retried with backoff until it goes."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("alert_id", "recipient_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[Optional[str]] = mapped_column(Text)
    # pending → sending → sent; a failed attempt puts it back to pending with a later next_attempt_at.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[Optional[str]] = mapped_column(Text)

    alert: Mapped[Alert] = relationship(back_populates="messages")


class DeliveryAttempt(Base):
    """Each try at sending a message, with its outcome."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    ok: Mapped[bool]
    error: Mapped[Optional[str]] = mapped_column(Text)

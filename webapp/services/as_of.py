"""Element statuses as they were believed at the end of a past day, from the status history.

Every stage change and review flag is recorded in ``element_status_history`` with the time on site
of the capture that caused it (:func:`webapp.services.processing.refuse`) or of the reviewer's
decision (:func:`webapp.services.elements.review_element`). The belief at the end of day D is the
last change at or before it; whether an element had been *seen* by D (installed or absent, in a
frame taken by D) comes from the time of the first frame that saw it, so "not observed yet" and
"seen absent" are right on that date too.

Days are UTC calendar days: "the end of D" is before 00:00 UTC of D + 1.

"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session, aliased

from webapp.models import ElementStatus, ElementStatusChange


def is_past(date: dt.date | None, today: dt.date | None = None) -> bool:
    """True when ``date`` is a day before ``today`` (default: the local date, as the dashboard's
    "today"), so the statuses must be reconstructed; None, today or later mean the current ones."""
    return date is not None and date < (today or dt.date.today())


def utc_date(moment: dt.datetime) -> dt.date:
    """The UTC calendar day of a stored time (SQLite gives naive UTC, PostgreSQL aware)."""
    return (moment.astimezone(dt.UTC) if moment.tzinfo else moment).date()


def end_of_day(date: dt.date) -> dt.datetime:
    """00:00 UTC of the next day: everything strictly before it happened by the end of ``date``."""
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def believed(project_id: int, date: dt.date):
    """A subquery with ElementStatus's columns ``global_id, stage, needs_review, first_seen`` as
    believed at the end of ``date``: one row per element with a recorded change or seen by then.

    ``stage``: the last recorded change's stage at or before the end of ``date``, 0 for an element
    seen but never changed (no row: neither seen nor changed, "not observed yet");
    ``needs_review``: that change's flag; ``first_seen``: the first frame that saw the element
    (installed or absent), when taken by the end of ``date``.

    "Seen by D" reads the stored ``first_seen`` (fusion sets it to the time of the first frame
    that saw the element, installed or absent, over all its observations) rather than the
    1,000,000 observations themselves: the same answer, as observations are only ever added.
    Two scans: the history ranked per element by a window function, and the statuses."""
    end = end_of_day(date)
    ranked = (
        select(
            ElementStatusChange.global_id,
            ElementStatusChange.stage,
            ElementStatusChange.needs_review,
            func.row_number().over(
                partition_by=ElementStatusChange.global_id,
                order_by=(ElementStatusChange.changed_at.desc(), ElementStatusChange.id.desc()),
            ).label("rank"),
        )
        .where(ElementStatusChange.project_id == project_id, ElementStatusChange.changed_at < end)
        .subquery("ranked")
    )
    last = select(
        ranked.c.global_id,
        ranked.c.stage,
        sa.case((ranked.c.needs_review, 1), else_=0).label("review"),
        sa.cast(sa.null(), sa.DateTime(timezone=True)).label("first_seen"),
    ).where(ranked.c.rank == 1)
    seen = select(
        ElementStatus.global_id,
        sa.cast(sa.null(), sa.Integer).label("stage"),
        sa.literal(0).label("review"),
        ElementStatus.first_seen,
    ).where(ElementStatus.project_id == project_id, ElementStatus.first_seen < end)
    # one row per element from either side, merged by a group-by (outer joins of two derived tables
    # are nested loops on SQLite: quadratic at 150,000 elements)
    both = union_all(last, seen).subquery("both")
    return (
        select(
            both.c.global_id.label("global_id"),
            func.coalesce(func.max(both.c.stage), 0).label("stage"),
            sa.cast(func.max(both.c.review), sa.Boolean).label("needs_review"),
            func.min(both.c.first_seen).label("first_seen"),
        )
        .group_by(both.c.global_id)
        .subquery("believed")
    )


def status_table(project_id: int, date: dt.date | None):
    """What to read element statuses from on ``date``: :class:`ElementStatus` itself for today (or
    None), else an alias of it over :func:`believed` (same column names: ``global_id``, ``stage``,
    ``needs_review``, ``first_seen``; no others). A query written against the
    returned entity must not filter on ``project_id`` for the alias (the subquery is per project):
    use :func:`project_filter`."""
    if not is_past(date):
        return ElementStatus
    return aliased(ElementStatus, believed(project_id, date), adapt_on_names=True)


def project_filter(status, project_id: int):
    """The join condition that keeps ``status`` (from :func:`status_table`) to one project."""
    return status.project_id == project_id if status is ElementStatus else sa.true()


def statuses_on(session: Session, project_id: int, date: dt.date | None) -> dict[str, tuple[int, bool, bool]]:
    """GlobalId → (stage, needs_review, seen) at the end of ``date`` (see :func:`believed`)."""
    status = status_table(project_id, date)
    query = select(status.global_id, status.stage, status.needs_review, status.first_seen)
    if status is ElementStatus:
        query = query.where(ElementStatus.project_id == project_id)
    rows = session.execute(query)
    return {gid: (stage, bool(review), first is not None) for gid, stage, review, first in rows}


def review_count(session: Session, project_id: int, date: dt.date | None) -> int:
    """How many elements needed review at the end of ``date`` (now for today or None)."""
    status = status_table(project_id, date)
    query = select(func.count()).select_from(status).where(status.needs_review)
    if status is ElementStatus:
        query = query.where(ElementStatus.project_id == project_id)
    return session.scalar(query) or 0

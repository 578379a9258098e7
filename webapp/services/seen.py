"""What counts as *seen*: unknown is not late.

An element is seen once a capture saw it, installed or absent (its fused status has
``first_seen``), once a reviewer decided its stage, or once it reached a stage. An element only
ever "not visible" (behind a wall, out of the walk) is *not observed*: never "seen absent", never
late, and it does not count towards a storey's coverage (``docs/progress.md``).
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import ElementStatus


def seen_column(status=ElementStatus):
    """SQL: whether a status row (outer-joined, so possibly NULL) says the element was seen; false
    for a missing row. ``status``: :class:`ElementStatus`, or the statuses believed on a past date
    (:func:`webapp.services.as_of.status_table`, where a reviewer's decision is a stage change)."""
    reviewed = [ElementStatus.reviewed_stage.is_not(None)] if status is ElementStatus else []
    return sa.case(
        (sa.or_(status.first_seen.is_not(None), *reviewed, status.stage > 0), sa.true()),
        else_=sa.false(),
    )


def status_seen(status: ElementStatus | None) -> bool:
    """:func:`seen_column` for one loaded row."""
    return status is not None and (status.first_seen is not None or status.reviewed_stage is not None
                                   or bool(status.stage))

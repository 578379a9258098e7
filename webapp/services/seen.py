"""What counts as *seen*: unknown is not late.

An element is seen once a capture saw it, installed or absent (its fused status has
``first_seen``), once a reviewer decided its stage, or once it reached a stage. An element only
ever "not visible" (behind a wall, out of the walk) is *not observed*: never "seen absent", never
late, and it does not count towards a storey's coverage (``docs/progress.md``).
"""

from __future__ import annotations

import sqlalchemy as sa

from webapp.models import ElementStatus


def seen_column():
    """SQL: whether an ``element_status`` row (outer-joined, so possibly NULL) says the element
    was seen; false for a missing row."""
    return sa.case(
        (sa.or_(ElementStatus.first_seen.is_not(None), ElementStatus.reviewed_stage.is_not(None),
                ElementStatus.stage > 0), sa.true()),
        else_=sa.false(),
    )


def status_seen(status: ElementStatus | None) -> bool:
    """:func:`seen_column` for one loaded row."""
    return status is not None and (status.first_seen is not None or status.reviewed_stage is not None
                                   or bool(status.stage))

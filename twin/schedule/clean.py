"""Clean the texts of an imported schedule that can reach an email or SMS header.

Task names, trades and ids end up in alert subjects ("[project] task slips 4 days"); a CR or LF in
one of them is a header injection (``\\r\\nBcc: ...``) and makes the email unbuildable. Every
control character (C0, DEL, C1) and Unicode line or paragraph separator becomes a space, runs of
such spaces collapse to one, and the ends are stripped. Applied once, at import, by
:func:`twin.schedule.read_schedule`, to ids, parents, predecessors, names and trades alike so
that references between tasks still match.
"""

from __future__ import annotations

import re

from twin.schedule.model import Schedule, Task

#: C0 controls (tab, CR and LF included), DEL, C1 controls, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_text(text: str) -> str:
    """``text`` with every control character or line break replaced by a single space, stripped."""
    return _CONTROL.sub(" ", text).strip()


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else (clean_text(text) or None)


def clean_task(task: Task) -> Task:
    """The task with its id, name, parent, trade and predecessor ids cleaned (dates and links untouched)."""
    return task.with_(
        id=clean_text(task.id) or "(no id)",
        name=clean_text(task.name) or clean_text(task.id) or "(no name)",
        parent=_clean_optional(task.parent),
        trade=_clean_optional(task.trade),
        predecessors=tuple(p._replace(task=clean_text(p.task)) for p in task.predecessors),
    )


def clean_schedule(schedule: Schedule) -> Schedule:
    """A copy of ``schedule`` with its name and every task's texts cleaned."""
    return type(schedule)(clean_text(schedule.name) or "schedule", schedule.source_format,
                          [clean_task(t) for t in schedule.tasks], schedule.data_date)

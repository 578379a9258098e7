"""Which storeys a site team walks, week by week, and on which days (the timeline benchmark's plan).

Pure functions over plain data: dates are calendar dates, a week starts on Monday, storeys are
GlobalIds in site order (lowest first).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence

from twin.asbuilt import PlannedTask

#: Working days (0 = Monday) of the walks of a week, by walks per week.
WALK_DAYS = {1: (2,), 2: (1, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 3, 4)}


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def walk_days(week_start: dt.date, walks: int) -> list[dt.date]:
    """The dates of a week's walks: spread over the working week (more than 5: several a day)."""
    days = WALK_DAYS.get(walks) or tuple(k % 5 for k in range(walks))
    return sorted(week_start + dt.timedelta(days=d) for d in days)


def storey_activity(tasks: Sequence[PlannedTask], first: dt.date, last: dt.date) -> dict[str, int]:
    """Storey → elements of the tasks planned to be under way between ``first`` and ``last``."""
    activity: dict[str, int] = defaultdict(int)
    for task in tasks:
        if task.storey and task.start <= last and task.finish >= first:
            activity[task.storey] += max(len(task.elements), 1)
    return dict(activity)


def plan_week(storeys: Sequence[str], activity: Mapping[str, int], last_walked: Mapping[str, int],
              walks: int, week: int) -> list[str]:
    """The storeys a site team walks in week ``week``: ``walks`` of them (storeys in site order).

    The busiest storeys of the week's plan first; with two walks or more one is kept for the
    storey walked longest ago (never walked: the lowest first), and with one walk a week every
    third week goes to it, so that no storey goes unwalked for long. Without planned work the
    rotation fills every walk. A storey is walked at most once a week unless there are fewer
    storeys than walks. ``last_walked``: storey → the week it was last walked.
    """
    if not storeys or walks < 1:
        return []
    busy = sorted((s for s in storeys if activity.get(s, 0) > 0),
                  key=lambda s: (-activity[s], storeys.index(s)))
    by_age = sorted(storeys, key=lambda s: (last_walked.get(s, -10**6), storeys.index(s)))
    rotation_slots = 1 if walks >= 2 else int(week % 3 == 2)
    chosen = busy[: max(walks - rotation_slots, 0)]
    for storey in by_age:
        if len(chosen) >= walks:
            break
        if storey not in chosen:
            chosen.append(storey)
    for storey in busy:  # a quiet site with fewer storeys than walks
        if len(chosen) >= walks:
            break
        chosen.append(storey)
    while len(chosen) < walks:
        chosen.append(by_age[len(chosen) % len(by_age)])
    return chosen

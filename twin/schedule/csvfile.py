"""CSV schedules: one task per row (``docs/schedules.md``).

Columns: ``id, name, planned_start, planned_finish, elements`` (ISO dates; elements: GlobalIds
separated by ``;``, or ``selector:`` and an ``ifcopenshell.util.selector`` query), and optionally
``parent, trade, predecessors`` (ids separated by ``;``, each optionally ``id:SS+2`` for a relation
and a lag in days), ``actual_start, actual_finish``, ``weight_basis`` (count, area, volume, length). Malformed cells are reported per row and
column, not guessed.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from twin.schedule.model import (
    RELATIONS,
    WEIGHT_BASES,
    ImportProblem,
    Predecessor,
    Schedule,
    ScheduleImportError,
    Task,
)
from twin.schedule.mspdi import parse_links_text

REQUIRED = ("id", "name", "planned_start", "planned_finish", "elements")
_PREDECESSOR = re.compile(r"^\s*(?P<id>[^:]+?)\s*(?::\s*(?P<rel>FS|SS|FF|SF)?\s*(?P<lag>[+-]\s*\d+(?:\.\d+)?)?)?\s*$")


def _date(text: str, row: str, column: str, problems: list[ImportProblem]) -> dt.date | None:
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        problems.append(ImportProblem(row, column, f"not an ISO date: {text!r}"))
        return None


def parse_predecessors(text: str, row: str, problems: list[ImportProblem]) -> tuple[Predecessor, ...]:
    out = []
    for part in (p for p in (text or "").split(";") if p.strip()):
        match = _PREDECESSOR.match(part)
        if not match or (match["rel"] and match["rel"] not in RELATIONS):
            problems.append(ImportProblem(row, "predecessors", f"cannot read {part!r} (want id or id:SS+2)"))
            continue
        out.append(Predecessor(match["id"], match["rel"] or "FS", float(match["lag"].replace(" ", "")) if match["lag"] else 0.0))
    return tuple(out)


def read_csv(path: str | Path) -> Schedule:
    path = Path(path)
    problems: list[ImportProblem] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            return _read_rows(path, reader, problems)
        except csv.Error as error:  # e.g. a cell over csv.field_size_limit() (128 KiB), a NUL byte
            line = reader.line_num + 1  # line_num counts the lines read whole; the error is on the next
            raise ScheduleImportError(str(path), [ImportProblem(
                f"(line {line})", "csv", f"unreadable CSV at line {line}: {error}")]) from error


def _read_rows(path: Path, reader: csv.DictReader, problems: list[ImportProblem]) -> Schedule:
    """The tasks of ``reader``'s rows; malformed cells are collected into ``problems`` and refused."""
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise ScheduleImportError(str(path), [ImportProblem(None, "columns", f"missing {', '.join(missing)}")])
    tasks = []
    for line, row in enumerate(reader, start=2):
        task_id = (row.get("id") or "").strip() or f"(line {line})"
        elements, selectors = parse_links_text(row.get("elements"))
        basis = (row.get("weight_basis") or "count").strip().lower()
        if basis not in WEIGHT_BASES:
            problems.append(ImportProblem(task_id, "weight_basis", f"{basis!r} is not one of {', '.join(WEIGHT_BASES)}"))
            basis = "count"
        tasks.append(Task(
            id=task_id, name=(row.get("name") or "").strip() or task_id,
            planned_start=_date(row["planned_start"], task_id, "planned_start", problems),
            planned_finish=_date(row["planned_finish"], task_id, "planned_finish", problems),
            parent=(row.get("parent") or "").strip() or None,
            trade=(row.get("trade") or "").strip() or None,
            predecessors=parse_predecessors(row.get("predecessors") or "", task_id, problems),
            actual_start=_date(row.get("actual_start") or "", task_id, "actual_start", problems),
            actual_finish=_date(row.get("actual_finish") or "", task_id, "actual_finish", problems),
            elements=elements, selectors=selectors, weight_basis=basis,
        ))
    if problems:
        raise ScheduleImportError(str(path), problems)
    return Schedule(name=path.stem, source_format="csv", tasks=tasks)

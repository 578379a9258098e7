"""Linking tasks to elements: a link file, and ``ifcopenshell.util.selector`` queries.

A link file is a CSV with columns ``task_id, elements`` (the same element syntax as the CSV
schedule): it adds links to schedules that do not name GlobalIds (MS Project, P6).
"""

from __future__ import annotations

import csv
from pathlib import Path

import ifcopenshell
import ifcopenshell.util.selector as ifc_selector

from twin.schedule.model import ImportProblem, Schedule
from twin.schedule.mspdi import parse_links_text


def apply_link_file(schedule: Schedule, path: str | Path) -> tuple[Schedule, list[ImportProblem]]:
    """Add the link file's elements and selectors to the tasks it names."""
    problems: list[ImportProblem] = []
    by_id = schedule.by_id()
    with open(path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            task_id = (row.get("task_id") or "").strip()
            if task_id not in by_id:
                problems.append(ImportProblem(task_id or None, "link file", f"no task {task_id!r} in the schedule"))
                continue
            elements, selectors = parse_links_text(row.get("elements"))
            task = by_id[task_id]
            by_id[task_id] = task.with_(elements=task.elements + elements, selectors=task.selectors + selectors)
    return Schedule(schedule.name, schedule.source_format, [by_id[t.id] for t in schedule.tasks],
                    schedule.data_date), problems


def resolve_selectors(schedule: Schedule, model: ifcopenshell.file | None) -> tuple[Schedule, list[ImportProblem]]:
    """Replace every task's selector queries by the GlobalIds of the IfcElements they select."""
    problems: list[ImportProblem] = []
    tasks = []
    for task in schedule.tasks:
        if not task.selectors:
            tasks.append(task)
            continue
        if model is None:
            problems.append(ImportProblem(task.id, "elements", "selectors need the project's IFC model"))
            tasks.append(task.with_(selectors=()))
            continue
        found: list[str] = []
        for query in task.selectors:
            try:
                selected = ifc_selector.filter_elements(model, query)
            except Exception as error:  # the selector grammar's errors are plain Exceptions
                problems.append(ImportProblem(task.id, "elements", f"bad selector {query!r}: {error}"))
                continue
            ids = sorted(e.GlobalId for e in selected if e.is_a("IfcElement"))
            if not ids:
                problems.append(ImportProblem(task.id, "elements", f"selector {query!r} selects no element"))
            found += ids
        tasks.append(task.with_(elements=tuple(dict.fromkeys(task.elements + tuple(found))), selectors=()))
    return Schedule(schedule.name, schedule.source_format, tasks, schedule.data_date), problems

"""Schedules from IFC 4D, MS Project XML, Primavera P6 XER and CSV, into one task model.

    from twin.schedule import read_schedule, check
    schedule = read_schedule("programme.xml", model=ifc_model, link_file="links.csv")
    schedule, problems = check(schedule, known_globalids, lenient=False)
"""

from __future__ import annotations

from pathlib import Path

import ifcopenshell

from twin.schedule.clean import clean_schedule, clean_text
from twin.schedule.model import ImportProblem, Predecessor, Schedule, ScheduleImportError, Task
from twin.schedule.validate import check, validate

FORMATS = {".ifc": "ifc", ".xml": "mspdi", ".xer": "xer", ".csv": "csv"}


def sniff_format(path: str | Path) -> str | None:
    """The schedule format from a file's first bytes ("ifc", "mspdi", "xer", "csv"), or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("ISO-10303-21"):
        return "ifc"
    if text.startswith("ERMHDR"):
        return "xer"
    if text.startswith("<") and "<Project" in text and "schemas.microsoft.com/project" in text:
        return "mspdi"
    header = text.splitlines()[0].lower() if text else ""
    if {"id", "name", "planned_start", "planned_finish"} <= {c.strip().strip('"') for c in header.split(",")}:
        return "csv"
    return None


def read_schedule(path: str | Path, model: ifcopenshell.file | None = None, link_file: str | Path | None = None
                  ) -> tuple[Schedule, list[ImportProblem]]:
    """Read a schedule file (format by extension, else by content), apply a link file, and resolve selectors against
    ``model``. Returns the schedule and the link problems found on the way (unknown tasks in the
    link file, selectors that select nothing); :func:`check` finds the rest. A file without tasks
    is refused; texts that can reach an alert's headers are cleaned (:mod:`twin.schedule.clean`)."""
    from twin.schedule.links import apply_link_file, resolve_selectors

    path = Path(path)
    kind = FORMATS.get(path.suffix.lower()) or sniff_format(path)
    if kind is None:
        raise ScheduleImportError(str(path), [ImportProblem(None, "format", f"unknown schedule format "
                                                            f"{path.suffix!r} (want .ifc, .xml, .xer or .csv)")])
    if kind == "ifc":
        from twin.ifc import open_model
        from twin.schedule.ifc4d import read_ifc_schedule

        schedule = read_ifc_schedule(open_model(path))
    elif kind == "mspdi":
        from twin.schedule.mspdi import read_mspdi

        schedule = read_mspdi(path)
    elif kind == "xer":
        from twin.schedule.xer import read_xer

        schedule = read_xer(path)
    else:
        from twin.schedule.csvfile import read_csv

        schedule = read_csv(path)
    if not schedule.tasks:
        raise ScheduleImportError(str(path), [ImportProblem(
            None, "tasks", f"no tasks: the {kind} file holds none; it cannot become the current schedule")])
    schedule = clean_schedule(schedule)
    problems: list[ImportProblem] = []
    if link_file is not None:
        schedule, found = apply_link_file(schedule, link_file)
        problems += found
    schedule, found = resolve_selectors(schedule, model)
    return schedule, problems + found


__all__ = ["ImportProblem", "Predecessor", "Schedule", "ScheduleImportError", "Task", "check", "clean_text",
           "read_schedule", "sniff_format", "validate"]

"""MS Project XML (MSPDI): read and write.

Tasks come from ``Project/Tasks/Task`` (UID, Name, Start, Finish, ActualStart, ActualFinish,
OutlineNumber for the WBS parent, PredecessorLink with PredecessorUID, Type and LinkLag in tenths
of a minute). Elements: the task's ``Text1`` field (or an ExtendedAttribute whose FieldID is
Text1, 188743731), or a line ``elements: ...`` in the task's Notes: GlobalIds separated by ``;``
or ``selector:...`` — the convention a planner follows when exporting links from MS Project; a
link file can supply them instead. Lags are converted at 8 working hours a day.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from twin.schedule.model import ImportProblem, Predecessor, Schedule, ScheduleImportError, Task

NS = "http://schemas.microsoft.com/project"
_TYPE = {"0": "FF", "1": "FS", "2": "SF", "3": "SS"}
_TYPE_BACK = {v: k for k, v in _TYPE.items()}
TEXT1_FIELD_ID = "188743731"
#: A line of a task's Notes that starts with this names its elements (when Text1 is empty).
NOTES_PREFIX = "elements:"
_MINUTES_PER_DAY = 8 * 60  # MS Project's default working day


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _date(text: str | None) -> dt.date | None:
    return dt.datetime.fromisoformat(text).date() if text else None


def parse_links_text(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"id1;id2"`` or ``"selector:IfcWall, ..."`` → (GlobalIds, selectors)."""
    if not text or not text.strip():
        return (), ()
    text = text.strip()
    if text.startswith("selector:"):
        return (), (text[len("selector:"):].strip(),)
    return tuple(g.strip() for g in text.split(";") if g.strip()), ()


def _notes_links(notes: str | None) -> str | None:
    """The text after ``elements:`` on a line of the task's notes, if any."""
    for line in (notes or "").splitlines():
        if line.strip().lower().startswith(NOTES_PREFIX):
            return line.strip()[len(NOTES_PREFIX):].strip()
    return None


def read_mspdi(path: str | Path) -> Schedule:
    """Read an MSPDI file. The WBS parent comes from OutlineNumber (``1.2`` is the parent of
    ``1.2.3``), else from OutlineLevel and file order, as MS Project lists tasks."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ScheduleImportError(str(path), [ImportProblem(None, "format", f"not well-formed XML: {error}")]) \
            from error
    if root.tag != _q("Project"):
        raise ScheduleImportError(str(path), [ImportProblem(
            None, "format", f"not an MS Project XML file (root element {root.tag}, want {_q('Project')})")])
    parents: dict[str, str | None] = {}
    open_levels: list[str] = []  # uid of the last task seen at each outline level
    raw = []
    outline_to_uid: dict[str, str] = {}
    for node in root.iter(_q("Task")):
        uid = node.findtext(_q("UID"))
        if uid is None or node.findtext(_q("IsNull")) == "1":
            continue
        outline = node.findtext(_q("OutlineNumber")) or ""
        level = int(node.findtext(_q("OutlineLevel")) or (outline.count(".") + 1 if outline else 1))
        if level == 0 or (uid == "0" and outline in ("", "0")):
            continue  # the project summary task
        outline_to_uid[outline] = uid
        del open_levels[level - 1:]
        parents[uid] = open_levels[-1] if open_levels else None
        open_levels.append(uid)
        raw.append((uid, outline, node))
    tasks = []
    for uid, outline, node in raw:
        if "." in outline:
            parents[uid] = outline_to_uid.get(outline.rsplit(".", 1)[0], parents[uid])
        links = node.findtext(_q("Text1")) or _notes_links(node.findtext(_q("Notes")))
        for attribute in node.findall(_q("ExtendedAttribute")):
            if attribute.findtext(_q("FieldID")) == TEXT1_FIELD_ID:
                links = attribute.findtext(_q("Value"))
        elements, selectors = parse_links_text(links)
        predecessors = tuple(
            Predecessor(link.findtext(_q("PredecessorUID")), _TYPE.get(link.findtext(_q("Type")) or "1", "FS"),
                        float(link.findtext(_q("LinkLag")) or 0) / 10.0 / _MINUTES_PER_DAY)
            for link in node.findall(_q("PredecessorLink"))
        )
        tasks.append(Task(
            id=uid, name=node.findtext(_q("Name")) or uid,
            planned_start=_date(node.findtext(_q("Start"))), planned_finish=_date(node.findtext(_q("Finish"))),
            parent=parents[uid],
            actual_start=_date(node.findtext(_q("ActualStart"))),
            actual_finish=_date(node.findtext(_q("ActualFinish"))),
            predecessors=predecessors, elements=elements, selectors=selectors,
        ))
    status = root.findtext(_q("StatusDate"))
    return Schedule(name=root.findtext(_q("Name")) or Path(path).stem, source_format="mspdi", tasks=tasks,
                    data_date=_date(status))


def write_mspdi(schedule: Schedule, path: str | Path) -> Path:
    """Write ``schedule`` as MSPDI (outline numbers from the parent links; elements in Text1)."""
    ET.register_namespace("", NS)
    project = ET.Element(_q("Project"))
    ET.SubElement(project, _q("Name")).text = schedule.name
    if schedule.data_date:
        ET.SubElement(project, _q("StatusDate")).text = f"{schedule.data_date.isoformat()}T17:00:00"
    tasks_node = ET.SubElement(project, _q("Tasks"))
    children = schedule.children()
    numbers: dict[str, str] = {}

    def number(parent: str | None, prefix: str) -> None:
        for k, task in enumerate(children.get(parent, []), start=1):
            numbers[task.id] = f"{prefix}{k}"
            number(task.id, f"{prefix}{k}.")

    number(None, "")
    for task in schedule.tasks:
        node = ET.SubElement(tasks_node, _q("Task"))
        ET.SubElement(node, _q("UID")).text = task.id
        ET.SubElement(node, _q("Name")).text = task.name
        ET.SubElement(node, _q("OutlineNumber")).text = numbers.get(task.id, task.id)
        ET.SubElement(node, _q("OutlineLevel")).text = str(numbers.get(task.id, "").count(".") + 1)
        for tag, value, hour in (("Start", task.planned_start, 8), ("Finish", task.planned_finish, 17),
                                 ("ActualStart", task.actual_start, 8), ("ActualFinish", task.actual_finish, 17)):
            if value:
                ET.SubElement(node, _q(tag)).text = f"{value.isoformat()}T{hour:02d}:00:00"
        if task.elements or task.selectors:
            text = "selector:" + task.selectors[0] if task.selectors else ";".join(task.elements)
            ET.SubElement(node, _q("Text1")).text = text
        for predecessor in task.predecessors:
            link = ET.SubElement(node, _q("PredecessorLink"))
            ET.SubElement(link, _q("PredecessorUID")).text = predecessor.task
            ET.SubElement(link, _q("Type")).text = _TYPE_BACK.get(predecessor.relation, "1")
            ET.SubElement(link, _q("LinkLag")).text = str(int(round(predecessor.lag_days * _MINUTES_PER_DAY * 10)))
    path = Path(path)
    ET.ElementTree(project).write(path, encoding="utf-8", xml_declaration=True)
    return path

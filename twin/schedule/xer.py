"""Primavera P6 XER: read with ``xerparser``, and write a minimal XER (for tests and export).

WBS nodes become summary tasks (parents, their short name is the id), activities become tasks with their planned
(target/early) and actual dates, relationships become predecessors (PR_FS → FS..., lag in hours
of an 8-hour day). Elements: a task user-defined field labelled ``IFC elements`` (GlobalIds
separated by ``;`` or ``selector:...``), or a link file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from twin.schedule.model import ImportProblem, Predecessor, Schedule, ScheduleImportError, Task
from twin.schedule.mspdi import parse_links_text

ELEMENTS_UDF_LABEL = "IFC elements"
_RELATION = {"PR_FS": "FS", "PR_SS": "SS", "PR_FF": "FF", "PR_SF": "SF"}
_RELATION_BACK = {v: k for k, v in _RELATION.items()}
_HOURS_PER_DAY = 8.0


def _date(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def read_xer(path: str | Path) -> Schedule:
    """Read a P6 XER file: WBS nodes as summary tasks, activities as tasks (planned dates from the
    target dates, else the early dates), relationships with their lag in days of the successor's
    calendar (``day_hr_cnt`` hours, 8 when unset)."""
    from xerparser import Xer

    text = Path(path).read_text(encoding=Xer.CODEC, errors="replace")
    try:
        xer = Xer(text)
    except Exception as error:  # xerparser raises ValueError/CorruptXerFile/KeyError for bad files
        message = f"not a readable P6 XER file ({error})".replace("\n", "; ")
        raise ScheduleImportError(str(path), [ImportProblem(None, "format", message)]) from error
    if not xer.tasks:  # WBS nodes alone are summaries of nothing
        raise ScheduleImportError(str(path), [ImportProblem(
            None, "tasks", "no activities (TASK table empty or absent): nothing to schedule")])
    # Relationships from TASKPRED itself: xerparser's task.predecessors rounds lags to whole days.
    links_in: dict[str, list[Predecessor]] = {}
    for rel in xer.relationships.values():
        calendar = getattr(rel.successor, "calendar", None)
        hours = getattr(calendar, "day_hr_cnt", None) or _HOURS_PER_DAY
        links_in.setdefault(rel.successor.uid, []).append(Predecessor(
            rel.predecessor.task_code, _RELATION.get(rel.pred_type, "FS"), rel.lag_hr_cnt / hours))
    tasks: list[Task] = []
    for node in xer.wbs_nodes.values():
        if node.is_proj_node:
            continue
        parent = xer.wbs_nodes.get(node.parent_id) if node.parent_id else None
        tasks.append(Task(id=node.code, name=node.name, planned_start=None, planned_finish=None,
                          parent=parent.code if parent is not None and not parent.is_proj_node else None))
    for task in xer.tasks.values():
        links = next((value for udf, value in task.user_defined_fields.items()
                      if udf.label == ELEMENTS_UDF_LABEL), None)
        elements, selectors = parse_links_text(links if isinstance(links, str) else None)
        wbs = xer.wbs_nodes.get(task.wbs_id)
        tasks.append(Task(
            id=task.task_code, name=task.name,
            planned_start=_date(task.target_start_date or task.early_start_date),
            planned_finish=_date(task.target_end_date or task.early_end_date),
            parent=wbs.code if wbs is not None and not wbs.is_proj_node else None,
            actual_start=_date(task.act_start_date), actual_finish=_date(task.act_end_date),
            predecessors=tuple(links_in.get(task.uid, ())),
            elements=elements, selectors=selectors,
        ))
    from twin.schedule.ifc4d import derive_dates  # summaries (WBS) span their activities

    project = next(iter(xer.projects.values()), None)
    data_date = _date(project.data_date) if project is not None and getattr(project, "data_date", None) else None
    return Schedule(name=project.short_name if project else Path(path).stem, source_format="xer",
                    tasks=derive_dates(tasks), data_date=data_date)


def _table(name: str, columns: list[str], rows: list[dict]) -> str:
    lines = [f"%T\t{name}", "%F\t" + "\t".join(columns)]
    lines += ["%R\t" + "\t".join(str(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines)


def write_xer(schedule: Schedule, path: str | Path) -> Path:
    """Write a minimal XER: one project, a WBS per summary task, activities, relationships, the
    elements in a task UDF. Summary tasks must be parents only (P6 has no summary activities)."""
    fmt = "%Y-%m-%d %H:%M"
    parents = {t.parent for t in schedule.tasks if t.parent}
    wbs_ids = {t.id: str(100 + k) for k, t in enumerate(schedule.tasks) if t.id in parents}
    activities = [t for t in schedule.tasks if t.id not in parents]
    task_ids = {t.id: str(1000 + k) for k, t in enumerate(activities)}
    start = min(t.planned_start for t in activities if t.planned_start)
    finish = max(t.planned_finish for t in activities if t.planned_finish)
    day = lambda d, h: f"{d:%Y-%m-%d} {h:02d}:00" if d else ""  # noqa: E731
    project = {"proj_id": "1", "proj_short_name": schedule.name, "export_flag": "Y", "clndr_id": "1",
               "add_date": start.strftime(fmt),
               "last_recalc_date": f"{schedule.data_date or start:%Y-%m-%d} 00:00",
               "plan_start_date": day(start, 8), "plan_end_date": "", "scd_end_date": day(finish, 17),
               "last_fin_dates_id": "", "last_schedule_date": ""}
    calendar = {"clndr_id": "1", "default_flag": "Y", "clndr_name": "Standard 5 day", "proj_id": "",
                "base_clndr_id": "", "last_chng_date": "", "clndr_type": "CA_Base", "day_hr_cnt": "8",
                "week_hr_cnt": "40", "year_hr_cnt": "2080", "clndr_data": ""}
    options = {"schedoptions_id": "1", "proj_id": "1", "sched_outer_depend_type": "SD_Both",
               "sched_open_critical_flag": "N", "sched_lag_early_start_flag": "Y", "sched_retained_logic": "Y",
               "sched_setplantoforecast": "N", "sched_float_type": "FT_FF", "sched_use_expect_end_flag": "Y",
               "sched_progress_override": "N"}
    wbs_rows = [{"wbs_id": "1", "proj_id": "1", "parent_wbs_id": "", "seq_num": "0", "proj_node_flag": "Y",
                 "status_code": "WS_Open", "wbs_short_name": schedule.name, "wbs_name": schedule.name}]
    for k, task in enumerate(t for t in schedule.tasks if t.id in wbs_ids):
        wbs_rows.append({"wbs_id": wbs_ids[task.id], "proj_id": "1", "seq_num": str(k), "proj_node_flag": "N",
                         "parent_wbs_id": wbs_ids.get(task.parent, "1"), "status_code": "WS_Open",
                         "wbs_short_name": task.id, "wbs_name": task.name})
    task_columns = ["task_id", "proj_id", "wbs_id", "clndr_id", "phys_complete_pct", "complete_pct_type",
                    "task_type", "status_code", "task_code", "task_name", "duration_type", "total_float_hr_cnt",
                    "free_float_hr_cnt", "remain_drtn_hr_cnt", "target_drtn_hr_cnt", "float_path",
                    "float_path_order", "driving_path_flag", "act_start_date", "act_end_date", "late_start_date",
                    "late_end_date", "expect_end_date", "early_start_date", "early_end_date", "rem_late_start_date",
                    "rem_late_end_date", "restart_date", "reend_date", "target_start_date", "target_end_date",
                    "suspend_date", "resume_date", "create_date", "update_date", "cstr_date", "cstr_type",
                    "cstr_date2", "cstr_type2", "target_work_qty", "act_work_qty", "target_equip_qty",
                    "act_equip_qty"]
    task_rows, udf_rows, pred_rows = [], [], []
    for task in activities:
        hours = ((task.planned_finish - task.planned_start).days + 1) * _HOURS_PER_DAY
        status = "TK_Complete" if task.actual_finish else ("TK_Active" if task.actual_start else "TK_NotStart")
        task_rows.append({
            "task_id": task_ids[task.id], "proj_id": "1", "wbs_id": wbs_ids.get(task.parent, "1"), "clndr_id": "1",
            "phys_complete_pct": "0", "complete_pct_type": "CP_Drtn", "task_type": "TT_Task",
            "status_code": status, "task_code": task.id, "task_name": task.name, "duration_type": "DT_FixedDrtn",
            "remain_drtn_hr_cnt": str(hours), "target_drtn_hr_cnt": str(hours), "driving_path_flag": "N",
            "act_start_date": day(task.actual_start, 8), "act_end_date": day(task.actual_finish, 17),
            "early_start_date": day(task.planned_start, 8), "early_end_date": day(task.planned_finish, 17),
            "target_start_date": day(task.planned_start, 8), "target_end_date": day(task.planned_finish, 17),
        })
        if task.elements or task.selectors:
            text = "selector:" + task.selectors[0] if task.selectors else ";".join(task.elements)
            udf_rows.append({"udf_type_id": "1", "fk_id": task_ids[task.id], "proj_id": "1", "udf_text": text})
        for k, predecessor in enumerate(task.predecessors):
            pred_rows.append({"task_pred_id": f"{task_ids[task.id]}{k}", "task_id": task_ids[task.id],
                              "pred_task_id": task_ids[predecessor.task], "proj_id": "1", "pred_proj_id": "1",
                              "pred_type": _RELATION_BACK.get(predecessor.relation, "PR_FS"),
                              "lag_hr_cnt": str(int(round(predecessor.lag_days * _HOURS_PER_DAY)))})
    parts = [
        f"ERMHDR\t19.12\t{start:%Y-%m-%d}\tProject\tsitetwin\tsitetwin\tdbxDatabaseNoName\tProject Management\tUSD",
        _table("CALENDAR", list(calendar), [calendar]),
        _table("PROJECT", list(project), [project]),
        _table("SCHEDOPTIONS", list(options), [options]),
        _table("PROJWBS", list(wbs_rows[0]), wbs_rows),
        _table("TASK", task_columns, task_rows),
        _table("TASKPRED", ["task_pred_id", "task_id", "pred_task_id", "proj_id", "pred_proj_id", "pred_type",
                            "lag_hr_cnt", "float_path", "aref", "arls"], pred_rows),
        _table("UDFTYPE", ["udf_type_id", "table_name", "udf_type_name", "udf_type_label", "logical_data_type"],
               [{"udf_type_id": "1", "table_name": "TASK", "udf_type_name": "user_field_1",
                 "udf_type_label": ELEMENTS_UDF_LABEL, "logical_data_type": "FT_TEXT"}]),
        _table("UDFVALUE", ["udf_type_id", "fk_id", "proj_id", "udf_date", "udf_number", "udf_text"], udf_rows),
        "%E",
    ]
    path = Path(path)
    path.write_text("\n".join(parts) + "\n", encoding="cp1252", errors="replace")
    return path

"""A manager's uploads of a project's IFC model and schedule (from the settings page or the API):
the file is saved whole under its own name in a private temporary folder, then ingested or
imported in one transaction; a refused file changes nothing and the error names it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from twin.ifc import IfcReadError
from twin.schedule import ScheduleImportError
from webapp.models import Project
from webapp.services.ingest import IngestResult, ingest_model
from webapp.services.schedules import ImportResult, import_schedule


class ProjectFileError(ValueError):
    """A refused model or schedule file; ``problems`` lists what is wrong, naming the file."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


@contextlib.contextmanager
def saved_upload(storage: FileStorage, data_dir: str | Path) -> Iterator[Path]:
    """The uploaded file saved under its sanitised name in a fresh folder of the data directory
    (removed afterwards): importers read the format from the suffix, errors name the file."""
    with tempfile.TemporaryDirectory(dir=Path(data_dir), prefix=".upload-") as folder:
        path = Path(folder) / (secure_filename(storage.filename or "") or "upload")
        storage.save(path)
        yield path


def upload_model(session: Session, config: Mapping[str, Any], project: Project,
                 storage: FileStorage) -> IngestResult:
    """Ingest an uploaded IFC file as the project's next revision (the same file again: no change)."""
    with saved_upload(storage, config["SITETWIN_DATA_DIR"]) as path:
        try:
            return ingest_model(session, path, project.name, config["SITETWIN_DATA_DIR"],
                                threads=config.get("SITETWIN_THREADS") or None)
        except (IfcReadError, ValueError) as error:  # ValueError: e.g. a duplicate GlobalId
            session.rollback()
            raise ProjectFileError(_named(error, path)) from error


def _named(error: Exception, path: Path) -> str:
    """The error's message naming the file as the client does, without the server's folder."""
    message = str(error).replace(str(path), path.name)
    return message if message.startswith(path.name) else f"{path.name}: {message}"


#: ``format`` values and the suffix :func:`twin.schedule.read_schedule` recognises each by.
SCHEDULE_FORMATS = {"ifc": ".ifc", "mspdi": ".xml", "xer": ".xer", "csv": ".csv"}


def upload_schedule(session: Session, config: Mapping[str, Any], project: Project, storage: FileStorage,
                    lenient: bool = False, fmt: str | None = None) -> ImportResult:
    """Import an uploaded schedule (IFC 4D, MS Project XML, P6 XER, CSV) as the next version.

    ``fmt`` (a key of :data:`SCHEDULE_FORMATS`) overrides the file name's suffix; without either
    the format is recognised by the content."""
    if fmt is not None and fmt not in SCHEDULE_FORMATS:
        raise ProjectFileError(f"unknown schedule format {fmt!r} (want one of {', '.join(SCHEDULE_FORMATS)})")
    with saved_upload(storage, config["SITETWIN_DATA_DIR"]) as path:
        if fmt is not None:
            path = path.rename(path.with_name(path.stem + SCHEDULE_FORMATS[fmt]))
        try:
            return import_schedule(session, config["SITETWIN_DATA_DIR"], project.name, path, lenient=lenient)
        except ScheduleImportError as error:
            session.rollback()
            problems = [str(p) for p in error.problems]
            raise ProjectFileError(f"{path.name}: {len(problems)} problem(s)", problems) from error
        except (IfcReadError, ValueError) as error:  # an IFC 4D schedule that is no readable IFC file
            session.rollback()
            raise ProjectFileError(_named(error, path)) from error

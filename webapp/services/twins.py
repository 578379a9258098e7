"""Find a project's current model revision and load its twin from the cache."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from twin.model import Twin, load_twin
from webapp.models import ModelRevision, Project
from webapp.storage import storage_at


class NotFound(LookupError):
    """An unknown project, or a project without a model yet. ``str()`` says which."""


def get_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project named {name!r}")
    return project


def current_revision(session: Session, project: Project) -> ModelRevision:
    revision = session.scalar(select(ModelRevision).where(ModelRevision.project_id == project.id)
                              .order_by(ModelRevision.number.desc()).limit(1))
    if revision is None:
        raise NotFound(f"project {project.name!r} has no model yet: run `sitetwin ingest MODEL.ifc --project ...`")
    return revision


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> Twin:
    return load_twin(path)


def load_revision_twin(revision: ModelRevision, data_dir: str | os.PathLike) -> Twin:
    """The revision's twin from its cache (fetched from shared storage into this host's data directory
    once, and kept in memory for the next call in this process)."""
    path = storage_at(data_dir).local(revision.twin_path)
    return _load(str(path), path.stat().st_mtime)


def revision_ifc_path(revision: ModelRevision, data_dir: str | os.PathLike) -> Path:
    """The stored copy of the revision's IFC file (fetched from shared storage when needed)."""
    store = storage_at(data_dir)
    try:
        return store.local(f"models/{revision.sha256}.ifc")
    except FileNotFoundError:
        return store.path(f"models/{revision.sha256}.ifc")  # the reader names the missing file


def unknown_storey(storey: str | None, storeys: Mapping[str, str]) -> str | None:
    """Why a capture's ``storey`` (GlobalId) is refused: the model's ``storeys`` (GlobalId → name)
    do not include it. None when it is one of them, or not given."""
    if storey is None or storey in storeys:
        return None
    known = ", ".join(f"{gid} ({name})" for gid, name in sorted(storeys.items(), key=lambda kv: kv[1]))
    return (f"storey {storey!r} is not a storey of the project's current model "
            f"(its storeys: {known or 'none'})")

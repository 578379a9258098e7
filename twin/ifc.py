"""Open an IFC file, or say clearly why it cannot be opened.

The one entry point for reading IFC from disk, so that every command reports a bad file the same
way: :class:`IfcReadError` names the file and the problem in one line.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import ifcopenshell

#: Schemas the twin understands (``ifcopenshell.file.schema_identifier`` prefixes).
SUPPORTED_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3")

_STEP_MAGIC = b"ISO-10303-21;"
_STEP_END = b"END-ISO-10303-21;"


class IfcReadError(Exception):
    """A file that is not a readable IFC model. ``str(error)`` is one line naming the file."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (the identity of a model revision)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check_envelope(path: Path) -> None:
    """Reject empty, non-STEP and truncated files before the parser sees them.

    ifcopenshell opens a truncated file without complaint (it keeps what it could parse), which would
    silently ingest half a building, so the STEP envelope is checked here: the file must start with
    ``ISO-10303-21;`` and end with ``END-ISO-10303-21;``.
    """
    size = path.stat().st_size
    if size == 0:
        raise IfcReadError(path, "the file is empty")
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        handle.seek(max(0, size - 4096))
        tail = handle.read().rstrip(b" \t\r\n\x00\x1a")
    if not head.startswith(_STEP_MAGIC):
        raise IfcReadError(path, "not an IFC file (no ISO-10303-21 STEP header)")
    if not tail.endswith(_STEP_END):
        raise IfcReadError(path, "truncated IFC file (no END-ISO-10303-21; at the end)")


def open_model(path: str | os.PathLike) -> ifcopenshell.file:
    """Open an IFC-SPF file (IFC2X3, IFC4 or IFC4X3).

    Raises :class:`IfcReadError` for a missing, empty, non-IFC or truncated file, a schema the
    twin does not support, or a model without an IfcProject.
    """
    path = Path(path)
    if not path.is_file():
        raise IfcReadError(path, "no such file")
    _check_envelope(path)
    try:
        model = ifcopenshell.open(str(path))
    except ifcopenshell.SchemaError as error:
        raise IfcReadError(path, f"unknown IFC schema ({error})") from error
    except Exception as error:  # ifcopenshell raises bare Error/OSError for parse failures
        raise IfcReadError(path, f"cannot parse IFC: {error}") from error
    schema = model.schema_identifier.upper()
    if not schema.startswith(SUPPORTED_SCHEMAS):
        raise IfcReadError(path, f"unsupported IFC schema {model.schema_identifier}")
    if not model.by_type("IfcProject"):
        raise IfcReadError(path, "no IfcProject in the model")
    return model

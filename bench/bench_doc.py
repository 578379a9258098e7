"""Write one section of docs/benchmarks.md, replacing the section of the same title."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEvery figure here is measured by a script in `bench/`.\n\n"


def write_section(title: str, lines: list[str], doc: Path = DOC) -> None:
    """Replace the section ``## title`` of ``doc`` (default docs/benchmarks.md) by ``lines``, or append it."""
    section = "\n".join([f"## {title}", "", *lines, "", ""])
    text = doc.read_text() if doc.exists() else HEADER
    start = text.find(f"## {title}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text)

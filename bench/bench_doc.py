"""Write one section of docs/benchmarks.md, replacing the section of the same title."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nEvery figure here is measured by a script in `bench/`.\n\n"


def write_section(title: str, lines: list[str]) -> None:
    section = "\n".join([f"## {title}", "", *lines, "", ""])
    text = DOC.read_text() if DOC.exists() else HEADER
    start = text.find(f"## {title}")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)

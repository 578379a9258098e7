from pathlib import Path

import pytest

from tests.ifc_factory import make_room, write
from twin.ifc import IfcReadError, file_sha256, open_model


def test_a_valid_model_opens(tmp_path):
    path = write(make_room(), tmp_path / "room.ifc")
    assert open_model(path).schema == "IFC4"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"PK\x03\x04 this is a zip, not a STEP file", "not an IFC file"),
        (b"hello world\n", "not an IFC file"),
    ],
)
def test_unreadable_files_name_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "bad.ifc"
    path.write_bytes(content)
    with pytest.raises(IfcReadError) as error:
        open_model(path)
    assert str(path) in str(error.value)
    assert problem in str(error.value)
    assert "\n" not in str(error.value)


def test_a_truncated_file_is_refused_not_half_read(tmp_path):
    full = Path(write(make_room(), tmp_path / "room.ifc")).read_bytes()
    path = tmp_path / "truncated.ifc"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(IfcReadError, match="truncated"):
        open_model(path)


def test_an_unknown_schema_is_refused(tmp_path):
    text = Path(write(make_room(), tmp_path / "room.ifc")).read_text()
    path = tmp_path / "ifc9.ifc"
    path.write_text(text.replace("FILE_SCHEMA(('IFC4'))", "FILE_SCHEMA(('IFC9'))"))
    with pytest.raises(IfcReadError, match="schema"):
        open_model(path)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(IfcReadError, match="no such file"):
        open_model(tmp_path / "nope.ifc")


def test_file_hash_depends_on_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert file_sha256(a) != file_sha256(b)
    assert file_sha256(a) == file_sha256(a)

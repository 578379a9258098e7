"""`sitetwin ingest`: revisions, idempotence, diffs, and bad input that changes nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import table_dump
from tests.ifc_factory import make_room, write
from webapp.models import Element, ModelRevision, Project, Storey


@pytest.fixture
def room_ifc(tmp_path):
    return write(make_room(), tmp_path / "room.ifc")


def ingest(runner, path, project="site", *extra):
    result = runner.invoke(args=["ingest", str(path), "--project", project, "--json", *extra])
    return result, (json.loads(result.stdout) if result.exit_code == 0 else None)


def test_ingest_stores_a_revision_with_storeys_and_elements(runner, db_session, room_ifc):
    result, out = ingest(runner, room_ifc)
    assert result.exit_code == 0, result.stderr
    assert out["project"] == "site" and out["revision"] == 1 and out["schema"] == "IFC4"
    assert out["elements"] == 8 and out["with_geometry"] == 7 and out["storeys"] == 1
    assert out["triangles"] > 0 and out["seconds"] >= 0
    assert db_session.scalar(select(func.count()).select_from(Element)) == 8
    (storey,) = db_session.scalars(select(Storey)).all()
    assert storey.name == "Level 1" and storey.elevation == pytest.approx(3.0)
    wall = db_session.scalar(select(Element).where(Element.name == "South"))
    assert wall.storey_id == storey.id
    assert (wall.min_x, wall.max_y, wall.max_z) == pytest.approx((0.0, 0.2, 5.7))
    assert wall.properties["Pset_WallCommon.FireRating"] == "REI60"


def test_the_same_file_again_is_a_no_op(runner, db_session, room_ifc):
    ingest(runner, room_ifc)
    before = table_dump(db_session)
    result, out = ingest(runner, room_ifc)
    assert result.exit_code == 0
    assert out["unchanged"] is True and out["revision"] == 1
    assert table_dump(db_session) == before


def test_a_reissued_model_is_the_next_revision_matched_by_global_id(runner, db_session, tmp_path):
    first = make_room()
    ingest(runner, write(first, tmp_path / "r1.ifc"))
    second = make_room()
    # Same building re-issued: GlobalIds kept, one wall renamed, one removed, a column added.
    for old, new in zip(first.by_type("IfcRoot"), second.by_type("IfcRoot"), strict=True):
        new.GlobalId = old.GlobalId
    walls = {w.Name: w for w in second.by_type("IfcWall")}
    walls["North"].Name = "North (revised)"
    second.remove(walls["East"])
    import ifcopenshell.api

    column = ifcopenshell.api.run("root.create_entity", second, ifc_class="IfcColumn", name="C1")
    ifcopenshell.api.run("spatial.assign_container", second, products=[column],
                         relating_structure=second.by_type("IfcBuildingStorey")[0])
    result, out = ingest(runner, write(second, tmp_path / "r2.ifc"))
    assert result.exit_code == 0, result.stderr
    assert out["revision"] == 2
    assert out["diff"] == {"added": 1, "removed": 1, "changed": 1}
    numbers = db_session.scalars(select(ModelRevision.number).order_by(ModelRevision.number)).all()
    assert numbers == [1, 2]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.ifc", b"", "empty"),
        ("notes.ifc", b"these are not the drawings you are looking for\n", "not an IFC file"),
        ("ifc9.ifc", None, "schema"),
        ("truncated.ifc", None, "truncated"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_changes_nothing(runner, db_session, room_ifc, tmp_path,
                                                             name, content, problem):
    ingest(runner, room_ifc)
    before = table_dump(db_session)
    files_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    text = Path(room_ifc).read_bytes()
    if name == "ifc9.ifc":
        content = text.replace(b"FILE_SCHEMA(('IFC4'))", b"FILE_SCHEMA(('IFC9'))")
    elif name == "truncated.ifc":
        content = text[: len(text) * 2 // 3]
    bad = tmp_path / name
    bad.write_bytes(content)
    result = runner.invoke(args=["ingest", str(bad), "--project", "site", "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and problem in lines[0]
    assert table_dump(db_session) == before
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == sorted([*files_before, bad.relative_to(tmp_path)])


def test_a_crash_mid_transaction_leaves_the_database_as_it_was(runner, db_session, room_ifc, tmp_path, monkeypatch):
    import webapp.services.ingest as service

    before = table_dump(db_session)

    def explode(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(service, "revision_diff", explode)
    result = runner.invoke(args=["ingest", str(room_ifc), "--project", "site"])
    assert isinstance(result.exception, RuntimeError)
    assert table_dump(db_session) == before
    assert db_session.scalar(select(func.count()).select_from(Project)) == 0


def test_json_mode_prints_exactly_one_object_on_stdout(app, room_ifc, tmp_path):
    env = {
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SITETWIN_DATA_DIR": app.config["SITETWIN_DATA_DIR"],
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-m", "webapp", "ingest", str(room_ifc), "--project", "p", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert done.stdout.strip().count("\n") == 0
    for key in ("project", "revision", "schema", "elements", "with_geometry", "storeys", "triangles", "seconds"):
        assert key in out


def test_postgresql_has_planner_statistics_of_a_fresh_ingest(runner, db_session, room_ifc):
    from sqlalchemy import text

    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    assert ingest(runner, room_ifc)[0].exit_code == 0
    # Autovacuum is off on the test server (and late elsewhere): the ingest analyses its own tables.
    analysed = db_session.execute(text("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                       "WHERE relname IN ('elements', 'storeys') AND schemaname = current_schema()"))
    assert dict(analysed.all()) == {"elements": True, "storeys": True}


def test_ingest_records_which_elements_are_parts_of_a_shapeless_assembly(runner, db_session, room_ifc):
    from webapp.services.assemblies import assembly_parts

    result, _ = ingest(runner, room_ifc)
    assert result.exit_code == 0, result.stderr
    revision = db_session.scalar(select(ModelRevision))
    stair, flight = (db_session.scalar(select(Element).where(Element.name == n)) for n in ("Stair", "Flight"))
    assert stair.triangles == 0 and flight.triangles > 0 and flight.assembly_global_id == stair.global_id
    assert assembly_parts(db_session, revision) == {stair.global_id: [flight.global_id]}


def test_a_real_models_stairs_and_roof_are_assemblies_of_tracked_parts(runner, db_session):
    from tests.conftest import shared_model
    from webapp.services.assemblies import assembly_parts

    result, _ = ingest(runner, shared_model("duplex.ifc"))
    assert result.exit_code == 0, result.stderr
    revision = db_session.scalar(select(ModelRevision))
    classes = dict(db_session.execute(select(Element.global_id, Element.ifc_class)).all())
    parts = assembly_parts(db_session, revision)
    assert sorted((classes[whole], len(members)) for whole, members in parts.items()) == [
        ("IfcRoof", 1), ("IfcStair", 5), ("IfcStair", 5)]  # a flight, two railings, two members each

import json

from sqlalchemy import select

from webapp.models import Element


def test_generated_building_ingests_with_every_element_tracked(runner, db_session, tmp_path):
    out = tmp_path / "sample.ifc"
    result = runner.invoke(args=["generate-building", str(out), "--storeys", "1", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.stderr
    generated = json.loads(result.stdout)
    result = runner.invoke(args=["ingest", str(out), "--project", "sample", "--json"])
    assert result.exit_code == 0, result.stderr
    ingested = json.loads(result.stdout)
    physical = db_session.scalars(select(Element).where(Element.physical)).all()
    assert len(physical) == generated["elements"]
    untracked = [e.ifc_class for e in physical if e.tracked_class is None]
    assert untracked == []
    # Only aggregates (stairs, whose flight and railing carry the geometry) lack a shape of their own.
    assert {e.ifc_class for e in physical if not e.has_shape} <= {"IfcStair"}
    assert ingested["with_geometry"] == sum(1 for e in physical if e.has_shape) + ingested["elements"] - len(physical)


def test_a_steel_framed_building_has_the_same_elements(runner, tmp_path):
    counts = {}
    for structure in ("concrete", "steel"):
        result = runner.invoke(args=["generate-building", str(tmp_path / f"{structure}.ifc"), "--storeys", "1",
                                     "--seed", "2", "--structure", structure, "--json"])
        assert result.exit_code == 0, result.stderr
        counts[structure] = json.loads(result.stdout)["by_class"]
    assert counts["steel"] == counts["concrete"]
    assert (tmp_path / "steel.ifc").read_text().count("IFCISHAPEPROFILEDEF") == 2
    result = runner.invoke(args=["generate-building", str(tmp_path / "x.ifc"), "--structure", "timber"])
    assert result.exit_code != 0 and not (tmp_path / "x.ifc").exists()

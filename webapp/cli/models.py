"""Commands about models: ingest an IFC file, generate a sample building."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import emit, ensure_database, fail, progress_bar, threads


@click.command("ingest")
@click.argument("model_path", type=click.Path(path_type=Path))
@click.option("--project", "project_name", required=True, help="Project name (created if new).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def ingest_command(model_path: Path, project_name: str, as_json: bool) -> None:
    """Ingest an IFC model into a project as a new revision."""
    from twin.ifc import IfcReadError
    from webapp.extensions import db
    from webapp.services.ingest import ingest_model

    ensure_database()
    try:
        with progress_bar(None, f"tessellating {model_path.name}") as update:
            result = ingest_model(db.session, model_path, project_name,
                                  current_app.config["SITETWIN_DATA_DIR"], threads=threads(), progress=update)
    except IfcReadError as error:
        fail(str(error))
    except ValueError as error:  # e.g. a duplicate GlobalId
        fail(f"{model_path}: {error}")
    if result.unchanged:
        text = (f"{model_path.name}: unchanged, already revision {result.revision} of "
                f"project {result.project!r}")
    else:
        d = result.diff
        text = (f"{model_path.name}: project {result.project!r} revision {result.revision} ({result.schema}): "
                f"{result.elements} elements, {result.with_geometry} with geometry, {result.storeys} storeys, "
                f"{result.triangles} triangles in {result.seconds:.1f} s; "
                f"+{d['added']} -{d['removed']} ~{d['changed']}")
    emit(result.as_dict(), as_json, text)


@click.command("generate-building")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--storeys", default=2, show_default=True, type=click.IntRange(1, 200))
@click.option("--bays", nargs=2, default=(3, 2), show_default=True, type=click.IntRange(1, 500),
              help="Bays along x and y (about 6 m each).")
@click.option("--mep/--no-mep", default=True, show_default=True, help="Pipes, ducts, trays, lights, outlets.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Schedule start (YYYY-MM-DD).")
@click.option("--structure", type=click.Choice(["concrete", "steel"]), default="concrete", show_default=True,
              help="Frame: RC columns and beams, or steel HEA columns and IPE beams.")
@click.option("--roof", type=click.Choice(["flat", "gable"]), default="flat", show_default=True,
              help="A roof slab, or an attic storey of timber rafters under a gable roof.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def generate_building_command(out: Path, storeys: int, bays: tuple[int, int], mep: bool, seed: int, start,
                              structure: str, roof: str, as_json: bool) -> None:
    """Write a sample IFC4 building with its 4D work schedule."""
    from twin.generate import DEFAULT_START, generate_building

    result = generate_building(out, storeys=storeys, bays=tuple(bays), mep=mep, seed=seed,
                               start=start.date() if start else DEFAULT_START, structure=structure,
                               roof=roof)
    emit({"path": str(result.path), "elements": result.element_count, "by_class": result.elements,
          "tasks": result.tasks, "seconds": result.seconds}, as_json,
         f"{result.path}: {result.element_count} elements, {result.tasks} tasks in {result.seconds:.1f} s")

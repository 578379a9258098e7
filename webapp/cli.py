"""The ``sitetwin`` command: a Flask CLI group (``flask --app webapp ...`` works the same).

Commands are thin: they parse options, call a service or library function and print its result.
With ``--json`` a command prints exactly one JSON object on stdout; progress and logs go to stderr.
Bad input exits with status 2 and one line on stderr naming the file and the problem.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

#: Exit status for bad input (a corrupt file, an unknown project...).
EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    """Print one line to stderr and exit with :data:`EXIT_BAD_INPUT`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def emit(result: dict[str, Any], as_json: bool, text: str) -> None:
    """Print ``result`` as one JSON object (``--json``) or ``text`` for people."""
    if as_json:
        click.echo(json.dumps(result, sort_keys=True, default=str))
    else:
        click.echo(text)


@contextmanager
def progress_bar(total: int | None, desc: str):
    """A tqdm bar on stderr; yields a callback taking the absolute count done."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True,
              mininterval=0.5, delay=1.0, leave=False) as bar:
        def update(done: int) -> None:
            bar.update(done - bar.n)

        yield update


def ensure_database() -> None:
    """Bring the schema to the latest migration when ``SITETWIN_AUTO_MIGRATE`` is on."""
    if not current_app.config.get("SITETWIN_AUTO_MIGRATE", True):
        return
    from webapp.db import upgrade_to_head

    upgrade_to_head()


def _threads() -> int | None:
    return current_app.config.get("SITETWIN_THREADS") or None


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
                                  current_app.config["SITETWIN_DATA_DIR"], threads=_threads(), progress=update)
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
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def generate_building_command(out: Path, storeys: int, bays: tuple[int, int], mep: bool, seed: int, start,
                              as_json: bool) -> None:
    """Write a sample IFC4 building with its 4D work schedule."""
    from twin.generate import DEFAULT_START, generate_building

    result = generate_building(out, storeys=storeys, bays=tuple(bays), mep=mep, seed=seed,
                               start=start.date() if start else DEFAULT_START)
    emit({"path": str(result.path), "elements": result.element_count, "by_class": result.elements,
          "tasks": result.tasks, "seconds": result.seconds}, as_json,
         f"{result.path}: {result.element_count} elements, {result.tasks} tasks in {result.seconds:.1f} s")


@click.command("simulate-capture")
@click.option("--project", "project_name", required=True)
@click.option("--date", "date", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Walk date (YYYY-MM-DD).")
@click.option("--storey", default=None, help="Storey name or GlobalId (default: the lowest).")
@click.option("--frames", default=10, show_default=True, type=click.IntRange(1, 10000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--width", default=2048, show_default=True, type=click.IntRange(64, 8192))
@click.option("--pose-noise", nargs=2, type=float, default=(0.3, 5.0), show_default=True,
              metavar="METRES DEGREES", help="Pose-prior error: position σ and yaw σ.")
@click.option("--slip-sigma", default=3.0, show_default=True, help="Random task slip σ, days.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def simulate_capture_command(project_name, date, storey, frames, seed, width, pose_noise, slip_sigma, out_dir,
                             as_json) -> None:
    """Simulate a helmet-camera walk of a project's twin as built on DATE (with ground truth)."""
    from webapp.extensions import db
    from webapp.services.simulation import simulate_project_capture
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        result = simulate_project_capture(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name,
                                          date.date(), out_dir, storey=storey, frames=frames, seed=seed, width=width,
                                          pose_noise=pose_noise, slip_sigma=slip_sigma)
    except (NotFound, ValueError) as error:
        fail(str(error))
    emit(result, as_json, f"{out_dir}: {result['frames']} frames on {result['storey']!r}, "
                          f"{result['path_length_m']:.1f} m walked")


@click.command("train-detector")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Weights file (default: the bundled vision/weights/sitetwin-det.pt).")
@click.option("--config", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True)
@click.option("--epochs", type=click.IntRange(1, 10000), default=None, help="Override the configuration's epochs.")
@click.option("--images", type=click.IntRange(10, 10_000_000), default=None, help="Training images to render.")
@click.option("--seed", default=0, show_default=True)
@click.option("--start-from", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Continue training these weights on freshly rendered data.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def train_detector_command(out, config, epochs, images, seed, start_from, as_json) -> None:
    """Render training tiles of generated buildings and train the YOLO detector from scratch."""
    from vision.detect import BUNDLED_WEIGHTS
    from vision.train import CONFIGS, train_detector

    total = images or CONFIGS[config]["images"]
    with progress_bar(total, "rendering tiles") as update:
        result = train_detector(out or BUNDLED_WEIGHTS, config=config, images=images, epochs=epochs, seed=seed,
                                start_from=start_from, progress=update)
    emit(result.as_dict(), as_json, f"{result.weights}: mAP50 {result.map50_all:.3f} on the held-out layout "
                                    f"after {result.seconds / 60:.0f} min")


@click.command("process")
@click.argument("capture_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--project", "project_name", required=True)
@click.option("--no-refine", is_flag=True, help="Keep the pose priors (no pose refinement).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def process_command(capture_dir: Path, project_name: str, no_refine: bool, as_json: bool) -> None:
    """Detect, register, observe and fuse a capture directory (the upload format)."""
    from vision.capture import CaptureError
    from vision.detect import DetectorError, load_detector
    from webapp.extensions import db
    from webapp.services.processing import process_capture
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        detector = load_detector()
        with progress_bar(None, f"processing {capture_dir.name}") as update:
            result = process_capture(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name, capture_dir,
                                     detector, refine=not no_refine, progress=update)
    except (CaptureError, NotFound, DetectorError) as error:
        fail(str(error))
    if not result.unchanged:
        _check_after_capture(project_name)
    if result.unchanged:
        text = f"{capture_dir}: capture {result.capture!r} already processed; nothing changed"
    else:
        text = (f"{capture_dir}: {result.frames} frames, observations {result.observations}, "
                f"{result.status_changes} status changes in {result.seconds:.1f} s")
    emit(result.as_dict(), as_json, text)


def _check_after_capture(project_name: str) -> None:
    """A processed capture may open or resolve alerts: check now (projects with a schedule)."""
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.alerts import check_alerts, deliver_outbox

    try:
        check_alerts(db.session, current_app.config, project_name)
    except ScheduleImportError:  # no schedule yet: nothing to check against
        return
    deliver_outbox(db.session, current_app.config)


@click.command("evaluate")
@click.argument("model_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--walks", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--frames", default=8, show_default=True, type=click.IntRange(1, 1000), help="Frames per walk.")
@click.option("--seed", default=0, show_default=True)
@click.option("--pose-noise", nargs=2, type=float, default=(0.3, 5.0), show_default=True,
              metavar="METRES DEGREES", help="Pose-prior error: position σ and yaw σ.")
@click.option("--width", default=1024, show_default=True, type=click.IntRange(128, 8192),
              help="Panorama width of the simulated frames.")
@click.option("--no-refine", is_flag=True, help="Keep the pose priors (no pose refinement).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def evaluate_command(model_path, walks, frames, seed, pose_noise, width, no_refine, as_json) -> None:
    """Run the whole loop on simulated walks of MODEL_PATH and score it against ground truth."""
    from twin.ifc import IfcReadError
    from vision.detect import DetectorError, load_detector
    from webapp.services.evaluation import evaluate_model

    try:
        detector = load_detector()
        with progress_bar(walks, f"evaluating {model_path.name}") as update:
            report = evaluate_model(model_path, detector, walks=walks, frames=frames, seed=seed,
                                    pose_noise=tuple(pose_noise), width=width, refine=not no_refine, progress=update)
    except (IfcReadError, DetectorError, ValueError) as error:
        fail(str(error))
    overall, pose = report["overall"], report["pose"]
    lines = [f"{report['model']} ({report['schedule']} schedule, {report['frames']} frames): "
             f"F1 {overall['f1']}, precision {overall['precision']}, recall {overall['recall']}, "
             f"stage accuracy {overall['stage_accuracy']} over {overall['elements']} element-walks",
             f"pose: prior median {pose['prior_median_cm']} cm → {pose['median_cm']} cm (p90 {pose['p90_cm']}), "
             f"{pose['median_deg']}° (p90 {pose['p90_deg']}°)"]
    lines += [f"  {cls:14s} P {m['precision']} R {m['recall']} F1 {m['f1']} stage {m['stage_accuracy']} "
              f"n={m['samples']}" for cls, m in report["per_class"].items()]
    emit(report, as_json, "\n".join(lines))


@click.group("schedule")
def schedule_group() -> None:
    """Schedules: import from IFC 4D, MS Project XML, Primavera P6 XER or CSV."""


@schedule_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--project", "project_name", required=True)
@click.option("--links", "link_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV task_id,elements linking tasks to GlobalIds or selectors.")
@click.option("--lenient", is_flag=True, help="Import what is sound and list the rest.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def schedule_import_command(path: Path, project_name: str, link_file, lenient: bool, as_json: bool) -> None:
    """Import a schedule as the project's next version (the old one is kept)."""
    from twin.ifc import IfcReadError
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.schedules import import_schedule
    from webapp.services.twins import NotFound

    ensure_database()
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        result = import_schedule(db.session, current_app.config["SITETWIN_DATA_DIR"], project_name, path,
                                 lenient=lenient, link_file=link_file)
    except (ScheduleImportError, IfcReadError, NotFound, ValueError) as error:
        fail(str(error))
    text = (f"{path.name}: unchanged, schedule version {result.version}" if result.unchanged else
            f"{path.name}: schedule version {result.version} ({result.format}), {result.tasks} tasks, "
            f"{result.linked_elements} element links" + (f"; skipped: {'; '.join(result.problems)}"
                                                        if result.problems else ""))
    emit(result.as_dict(), as_json, text)


@click.command("progress")
@click.option("--project", "project_name", required=True)
@click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Status date (default today).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def progress_command(project_name: str, date, as_json: bool) -> None:
    """Percent complete, planned percent, slip and forecast per task, storey, trade and project."""
    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.schedules import project_progress
    from webapp.services.twins import NotFound

    ensure_database()
    try:
        report = project_progress(db.session, project_name, date.date() if date else None)
    except (ScheduleImportError, NotFound) as error:
        fail(str(error))
    overall = report["overall"] or {}
    lines = [f"{report['project']} on {report['date']}: {overall.get('actual_pct')} % done, "
             f"{overall.get('planned_pct')} % planned, slip {overall.get('slip_days')} days"]
    lines += [f"  {t['name']}: {t['actual_pct']} % of {t['planned_pct']} %, slip {t['slip_days']} d, "
              f"{t['status']}, forecast {t['forecast_finish']}" for t in report["tasks"]]
    emit(report, as_json, "\n".join(lines))


@click.group("alerts")
def alerts_group() -> None:
    """Slip alerts: rules, recipients, checks and delivery."""


@alerts_group.command("check")
@click.option("--project", "project_name", required=True)
@click.option("--now", "now", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Check as of this time (UTC; default now).")
@click.option("--no-deliver", is_flag=True, help="Queue messages without sending them.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def alerts_check_command(project_name: str, now, no_deliver: bool, as_json: bool) -> None:
    """Run the slip check of a project now, then send what it queued."""
    import datetime as dt

    from twin.schedule import ScheduleImportError
    from webapp.extensions import db
    from webapp.services.alerts import check_alerts, deliver_outbox
    from webapp.services.twins import NotFound

    ensure_database()
    moment = now.replace(tzinfo=dt.UTC) if now else None
    try:
        result = check_alerts(db.session, current_app.config, project_name, moment)
    except (ScheduleImportError, NotFound) as error:
        fail(str(error))
    out = result.as_dict()
    if not no_deliver:
        out["delivery"] = deliver_outbox(db.session, current_app.config, moment)
    emit(out, as_json, f"{project_name} on {result.date}: {len(result.opened)} alerts opened, "
                       f"{len(result.resolved)} resolved, {result.still_open} still open"
                       + (f"; sent {out['delivery']['sent']}, failed {out['delivery']['failed']}"
                          if "delivery" in out else ""))


@alerts_group.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def alerts_deliver_command(as_json: bool) -> None:
    """Send the messages that are due (retries included)."""
    from webapp.extensions import db
    from webapp.services.alerts import deliver_outbox

    ensure_database()
    counts = deliver_outbox(db.session, current_app.config)
    emit(counts, as_json, f"sent {counts['sent']}, failed {counts['failed']}")


@alerts_group.group("rule")
def alerts_rule_group() -> None:
    """Alert rules of a project."""


@alerts_rule_group.command("add")
@click.option("--project", "project_name", required=True)
@click.option("--kind", type=click.Choice(["slip_days", "behind_pct", "past_finish", "forecast_beyond"]),
              required=True)
@click.option("--threshold", type=float, default=0.0, show_default=True,
              help="Days (slip_days) or percentage points (behind_pct).")
@click.option("--milestone", type=click.DateTime(["%Y-%m-%d"]), default=None, help="For forecast_beyond.")
@click.option("--trade", default=None, help="Only tasks of this trade.")
@click.option("--storey", default=None, help="Only tasks on this storey (name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def alerts_rule_add_command(project_name, kind, threshold, milestone, trade, storey, as_json) -> None:
    """Add an alert rule."""
    from webapp.extensions import db
    from webapp.models import AlertRule
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    try:
        project = get_project(db.session, project_name)
    except NotFound as error:
        fail(str(error))
    rule = AlertRule(project_id=project.id, kind=kind, threshold=threshold,
                     milestone=milestone.date() if milestone else None, trade=trade, storey=storey)
    db.session.add(rule)
    db.session.commit()
    emit({"id": rule.id, "project": project.name, "kind": kind, "threshold": threshold}, as_json,
         f"rule {rule.id}: {kind} ≥ {threshold:g} on {project.name}")


@alerts_group.command("subscribe")
@click.option("--project", "project_name", required=True)
@click.option("--email", default=None)
@click.option("--phone", default=None, help="E.164, e.g. +447700900123.")
@click.option("--name", default=None)
@click.option("--trade", default=None)
@click.option("--storey", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def alerts_subscribe_command(project_name, email, phone, name, trade, storey, as_json) -> None:
    """Subscribe a recipient (email and/or phone) to a project's alerts."""
    import re

    from webapp.extensions import db
    from webapp.models import Recipient
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    if not email and not phone:
        fail("give --email and/or --phone")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        fail(f"not an email address: {email!r}")
    if phone and not re.fullmatch(r"\+[1-9]\d{6,14}", phone):
        fail(f"not an E.164 phone number: {phone!r}")
    try:
        project = get_project(db.session, project_name)
    except NotFound as error:
        fail(str(error))
    recipient = Recipient(project_id=project.id, email=email, phone=phone, name=name, trade=trade, storey=storey)
    db.session.add(recipient)
    db.session.commit()
    emit({"id": recipient.id, "project": project.name, "email": email, "phone": phone}, as_json,
         f"recipient {recipient.id} subscribed to {project.name}")


@click.group("user")
def user_group() -> None:
    """Dashboard users."""


@user_group.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default=None)
@click.option("--project", "project_name", default=None, help="Give the user a role on this project.")
@click.option("--role", type=click.Choice(["viewer", "manager", "admin"]), default="viewer", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def user_create_command(email, password, name, project_name, role, as_json) -> None:
    """Create a user (with a hashed password), optionally with a role on a project."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Membership, User
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    if len(password) < 8:
        fail("a password needs at least 8 characters")
    user = db.session.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        user = User(email=email.lower(), name=name)
        db.session.add(user)
    user.set_password(password)
    db.session.flush()
    if project_name:
        try:
            project = get_project(db.session, project_name)
        except NotFound as error:
            fail(str(error))
        membership = db.session.get(Membership, (user.id, project.id)) or Membership(user_id=user.id,
                                                                                     project_id=project.id)
        membership.role = role
        db.session.add(membership)
    db.session.commit()
    emit({"id": user.id, "email": user.email, "project": project_name, "role": role if project_name else None},
         as_json, f"user {user.email}" + (f" is {role} on {project_name}" if project_name else ""))


@click.group("token")
def token_group() -> None:
    """API tokens of camera devices (one project each)."""


@token_group.command("create")
@click.option("--project", "project_name", required=True)
@click.option("--name", required=True, help="The device, e.g. helmet-cam-07.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def token_create_command(project_name, name, as_json) -> None:
    """Issue a token; its secret is shown once and stored only as a hash."""
    from webapp.extensions import db
    from webapp.models import ApiToken
    from webapp.services.twins import NotFound, get_project

    ensure_database()
    try:
        project = get_project(db.session, project_name)
    except NotFound as error:
        fail(str(error))
    token, secret = ApiToken.issue(project.id, name)
    db.session.add(token)
    db.session.commit()
    emit({"id": token.id, "project": project.name, "name": name, "token": secret}, as_json,
         f"token {token.id} for {name} on {project.name}: {secret}  (shown once)")


@token_group.command("revoke")
@click.argument("token_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def token_revoke_command(token_id: int, as_json: bool) -> None:
    """Revoke a token: the device can no longer upload."""
    import datetime as dt

    from webapp.extensions import db
    from webapp.models import ApiToken

    ensure_database()
    token = db.session.get(ApiToken, token_id)
    if token is None:
        fail(f"no token {token_id}")
    token.revoked_at = token.revoked_at or dt.datetime.now(dt.UTC)
    db.session.commit()
    emit({"id": token.id, "revoked_at": token.revoked_at.isoformat()}, as_json, f"token {token.id} revoked")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler process: daily slip checks and outbox delivery (its own process)."""
    import logging

    from webapp.scheduler import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ensure_database()
    build_scheduler(current_app).start()


COMMANDS: list[Callable] = [ingest_command, generate_building_command, simulate_capture_command,
                            train_detector_command, process_command, evaluate_command, schedule_group,
                            progress_command, alerts_group, scheduler_command, user_group, token_group]


def register_commands(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


main = FlaskGroup(
    name="sitetwin",
    create_app=_create_app,
    help="SiteTwin: construction-site digital twin and progress tracker.",
)

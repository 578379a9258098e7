"""Commands about alerts, and the scheduler process."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import emit, ensure_database, fail


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
                       + (f"; sent {out['delivery']['sent']}, failed {out['delivery']['failed']} "
                          f"(will retry), undeliverable {out['delivery']['undeliverable']}"
                          if "delivery" in out else ""))


@alerts_group.command("deliver")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@with_appcontext
def alerts_deliver_command(as_json: bool) -> None:
    """Send the messages that are due (retries included). Exits 0 when some fail: the counts say so."""
    from webapp.extensions import db
    from webapp.services.alerts import deliver_outbox

    ensure_database()
    counts = deliver_outbox(db.session, current_app.config)
    emit(counts, as_json, f"sent {counts['sent']}, failed {counts['failed']} (will retry), "
                          f"undeliverable {counts['undeliverable']}")


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
    if email and not re.fullmatch(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+", email):
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


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler process: daily slip checks and outbox delivery (its own process)."""
    import logging

    from webapp.scheduler import build_scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ensure_database()
    build_scheduler(current_app).start()

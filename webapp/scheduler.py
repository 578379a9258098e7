"""``sitetwin scheduler``: APScheduler in its own process (never inside the web app: under
gunicorn every worker would run every job), with its job store in the application database.

Jobs: per project a slip check at ``SITETWIN_ALERT_CRON`` in the project's time zone; the outbox
delivery every ``SITETWIN_OUTBOX_SECONDS``; a sweep every half lease that takes up captures whose
worker died (``webapp.leases``); and a sync that adds the check for new projects.
Two schedulers on one database are safe: alerts and messages are exactly-once by database
constraints and row locks (``webapp.models.alerts``), not by there being one scheduler.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select

log = logging.getLogger(__name__)
JOBSTORE_TABLE = "apscheduler_jobs"


def _app() -> Flask:
    from webapp import create_app

    return create_app()


def check_project_job(project_name: str) -> None:
    """The scheduled slip check of one project (then deliver what it queued)."""
    from webapp.extensions import db
    from webapp.services.alerts import check_alerts, deliver_outbox

    with _app().app_context():
        try:
            result = check_alerts(db.session, current_app.config, project_name)
            log.info("slip check %s: %d opened, %d resolved", project_name, len(result.opened), len(result.resolved))
            deliver_outbox(db.session, current_app.config)
        except Exception:  # a broken project must not stop the scheduler; it is logged and retried next time
            log.exception("slip check of %s failed", project_name)
        finally:
            db.session.remove()


def deliver_job() -> None:
    from webapp.extensions import db
    from webapp.services.alerts import deliver_outbox

    with _app().app_context():
        try:
            deliver_outbox(db.session, current_app.config)
        finally:
            db.session.remove()
        # A heartbeat for health checks (docker-compose): the scheduler is alive and its jobs run.
        heartbeat = Path(current_app.config["SITETWIN_DATA_DIR"]) / "scheduler.heartbeat"
        heartbeat.touch()


def sweep_leases_job() -> None:
    """Take up the captures whose worker died (expired lease): queue them again for the workers,
    or fail those out of attempts (:func:`webapp.jobs.take_up_expired`)."""
    from webapp.extensions import db
    from webapp.jobs import take_up_expired

    app = _app()
    try:
        requeued = take_up_expired(app)
    finally:
        with app.app_context():  # an app per run: close its connections, not leave them to the collector
            db.engine.dispose()
    if requeued:
        log.info("captures taken up again: %s", requeued)


def sync_projects_job() -> None:
    """Add (or update) the slip check of every project, in the running scheduler."""
    if _scheduler is not None:
        schedule_projects(_scheduler, _app())


_scheduler = None


def schedule_projects(scheduler, app: Flask) -> int:
    """One slip-check job per project of ``app``'s database, at its cron time in its time zone."""
    from apscheduler.triggers.cron import CronTrigger

    from webapp.extensions import db
    from webapp.models import Project

    with app.app_context():
        cron = current_app.config["SITETWIN_ALERT_CRON"]
        projects = db.session.execute(select(Project.id, Project.name, Project.timezone)).all()
        db.session.remove()
    for project_id, name, timezone in projects:
        scheduler.add_job(check_project_job, CronTrigger.from_crontab(cron, timezone=timezone or "UTC"),
                          args=[name], id=f"slip-check-{project_id}", replace_existing=True,
                          misfire_grace_time=3600, coalesce=True)
    return len(projects)


def build_scheduler(app: Flask, blocking: bool = True):
    """A scheduler with the persistent SQLAlchemy job store in the application database."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    global _scheduler
    store = SQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBSTORE_TABLE)
    kind = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = kind(jobstores={"default": store}, timezone="UTC")
    schedule_projects(scheduler, app)
    scheduler.add_job(deliver_job, "interval", seconds=int(app.config["SITETWIN_OUTBOX_SECONDS"]), id="outbox",
                      replace_existing=True, coalesce=True, max_instances=1)
    sweep = max(float(app.config["SITETWIN_LEASE_SECONDS"]) / 2, 1)
    scheduler.add_job(sweep_leases_job, "interval", seconds=sweep, id="sweep-leases", replace_existing=True,
                      coalesce=True, max_instances=1)
    scheduler.add_job(sync_projects_job, "interval", minutes=5, id="sync-projects", replace_existing=True,
                      coalesce=True)
    _scheduler = scheduler
    return scheduler


def shut_down(scheduler) -> None:
    """Stop a background ``scheduler`` and close its job stores' database connections, those its
    thread opened while stopping included: APScheduler disposes of a store's engine before its
    thread ends, so a last look for due jobs can open a connection nobody would close."""
    scheduler.shutdown(wait=False)  # joins the scheduler's thread
    for store in scheduler._jobstores.values():  # APScheduler 3 has no public accessor for them
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()

"""Alerts against a real SMTP server (aiosmtpd) and a local HTTP server standing in for Twilio."""

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from tests.webapp.conftest import free_port, smtp_server
from twin import taxonomy
from twin.generate import generate_building
from webapp.models import Alert, DeliveryAttempt, Element, ElementStatus, OutboxMessage

NOW = "2027-02-15T08:00"


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@pytest.fixture
def smtp(app):
    with smtp_server(app, Inbox()) as inbox:
        yield inbox


@pytest.fixture
def http_requests(app):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            reply = json.dumps({"sid": "SM123", "status": "queued", "to": "", "body": ""}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    app.config.update(TWILIO_API_BASE=base, TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="secret",
                      TWILIO_FROM="+15005550006", SMS_WEBHOOK_URL=f"{base}/hook")
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(runner, db_session, tmp_path):
    """A generated building with its schedule, every element seen absent by a walk before the
    schedule started (an element never seen is "not observed", never behind), so everything due
    is behind."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, seed=5)
    for args in (["ingest", str(path), "--project", "p"], ["schedule", "import", str(path), "--project", "p"],
                 ["alerts", "rule", "add", "--project", "p", "--kind", "slip_days", "--threshold", "3",
                  "--trade", "structure"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.stderr
    from webapp.models import Project

    project_id = db_session.scalar(select(Project.id).where(Project.name == "p"))
    walked = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    for gid in db_session.scalars(select(Element.global_id).where(Element.triangles > 0)):
        db_session.add(ElementStatus(project_id=project_id, global_id=gid, stage=0, probability=0.9,
                                     first_seen=walked, last_seen=walked))
    db_session.commit()
    return path


def check(runner, *extra):
    result = runner.invoke(args=["alerts", "check", "--project", "p", "--now", NOW, "--json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_slipping_task_mails_its_subscriber_once_with_the_numbers_and_a_link(runner, db_session, site, smtp):
    runner.invoke(args=["alerts", "subscribe", "--project", "p", "--email", "pm@example.com"])
    out = check(runner)
    assert len(out["opened"]) == 1 and out["delivery"] == {"sent": 1, "failed": 0, "undeliverable": 0}
    (mail,) = smtp.messages
    assert mail["To"] == "pm@example.com" and "structure L0" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "slips" in text and "forecast finish" in text and "/projects/" in text and "/tasks/" in text
    assert "<a href=" in html
    again = check(runner)  # the next night: still behind, already notified
    assert again["opened"] == [] and again["still_open"] == 1 and len(smtp.messages) == 1


def test_sms_goes_to_twilio_in_its_request_format_and_the_webhook_as_json(runner, app, db_session, site,
                                                                           http_requests):
    runner.invoke(args=["alerts", "subscribe", "--project", "p", "--phone", "+447700900123"])
    check(runner)
    (request,) = http_requests
    assert request["path"].endswith("/2010-04-01/Accounts/AC" + "0" * 32 + "/Messages.json")
    form = parse_qs(request["body"].decode())
    assert form["To"] == ["+447700900123"] and form["From"] == ["+15005550006"]
    assert "structure L0" in form["Body"][0] and "\n" not in form["Body"][0]
    assert request["headers"]["Authorization"].startswith("Basic ")
    # The same alert again through a generic webhook provider.
    app.config["SMS_PROVIDER"] = "webhook"
    db_session.execute(OutboxMessage.__table__.update().values(
        state="pending", sent_at=None, next_attempt_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    db_session.commit()
    runner.invoke(args=["alerts", "deliver"])
    hook = http_requests[-1]
    assert hook["path"] == "/hook" and json.loads(hook["body"])["to"] == "+447700900123"


def test_a_mail_server_down_for_hours_loses_nothing_and_sends_once(runner, app, db_session, site):
    port = free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    runner.invoke(args=["alerts", "subscribe", "--project", "p", "--email", "pm@example.com"])
    out = check(runner)
    assert out["delivery"] == {"sent": 0, "failed": 1, "undeliverable": 0}
    message = db_session.scalar(select(OutboxMessage))
    assert message.state == "pending" and message.attempts == 1 and "SMTP" in message.last_error
    # Hours later the server is back; the retry is due.
    with smtp_server(app, Inbox(), port) as inbox:
        later = dt.datetime(2027, 2, 15, 14, tzinfo=dt.UTC)
        from webapp.services.alerts import deliver_outbox

        with app.app_context():
            assert deliver_outbox(db_session, app.config, later) == {"sent": 1, "failed": 0, "undeliverable": 0}
            assert deliver_outbox(db_session, app.config, later + dt.timedelta(hours=1)) == {
                "sent": 0, "failed": 0, "undeliverable": 0}
    assert len(inbox.messages) == 1
    attempts = db_session.scalars(select(DeliveryAttempt.ok).order_by(DeliveryAttempt.id)).all()
    assert attempts == [False, True]


def test_a_task_that_recovers_resolves_and_slipping_again_opens_a_new_alert(runner, db_session, site, smtp):
    runner.invoke(args=["alerts", "subscribe", "--project", "p", "--email", "pm@example.com"])
    first = check(runner)
    task = first["opened"][0]["task"]
    alert = db_session.scalar(select(Alert))
    # The structure is now seen installed: every element of the task at its final stage.
    from webapp.models import Task, TaskElement

    gids = db_session.scalars(select(TaskElement.global_id).join(Task).where(Task.key == alert.task_key)).all()
    classes = dict(db_session.execute(select(Element.global_id, Element.tracked_class)).all())
    project_id = alert.project_id
    for gid in gids:
        final = taxonomy.BY_NAME[classes[gid]].final_stage if classes[gid] else 1
        row = db_session.scalar(select(ElementStatus).where(ElementStatus.project_id == project_id,
                                                            ElementStatus.global_id == gid))
        if row is None:  # an element without geometry: never seen, never counted
            continue
        row.stage, row.probability = final, 0.99
    db_session.commit()
    recovered = check(runner)
    assert recovered["resolved"] == [{"rule": "slip_days", "task": task}]
    db_session.expire_all()
    assert db_session.scalar(select(Alert)).state == "resolved"
    # It slips again (a reviewer takes the work back): a new alert, and a new mail.
    db_session.execute(ElementStatus.__table__.update().values(stage=0))
    db_session.commit()
    again = check(runner)
    assert len(again["opened"]) == 1
    assert db_session.scalar(select(func.count()).select_from(Alert)) == 2
    assert len(smtp.messages) == 2


@pytest.mark.postgres
def test_two_scheduler_processes_on_one_postgresql_send_each_alert_once(app, runner, site, smtp, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks and concurrent writers: the PostgreSQL half of this test")
    for email in ("a@example.com", "b@example.com"):
        runner.invoke(args=["alerts", "subscribe", "--project", "p", "--email", email])
    runner.invoke(args=["alerts", "rule", "add", "--project", "p", "--kind", "behind_pct", "--threshold", "10"])
    env = {"DATABASE_URL": database_url, "SITETWIN_DATA_DIR": app.config["SITETWIN_DATA_DIR"],
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(app.config["SMTP_PORT"]), "PATH": "/usr/bin:/bin",
           "SITETWIN_AUTO_MIGRATE": "0"}
    command = [sys.executable, "-m", "webapp", "alerts", "check", "--project", "p", "--now", NOW, "--json"]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [o[1].decode()[-2000:] for o in outputs]
    reports = [json.loads(o[0]) for o in outputs]
    alerts = sum(len(r["opened"]) for r in reports)
    deadline = time.time() + 5
    while len(smtp.messages) < alerts * 2 and time.time() < deadline:
        time.sleep(0.1)
    assert alerts >= 2  # two rules breached by the structure task at least
    assert len(smtp.messages) == alerts * 2
    recipients = sorted((m["To"], m["Subject"]) for m in smtp.messages)
    assert len(set(recipients)) == len(recipients)


def test_the_scheduler_keeps_a_daily_check_per_project_in_its_time_zone(app, db_session, site):
    from apscheduler.triggers.cron import CronTrigger

    from webapp.models import Project
    from webapp.scheduler import build_scheduler, shut_down

    db_session.execute(Project.__table__.update().values(timezone="Europe/Amsterdam"))
    db_session.commit()
    scheduler = build_scheduler(app, blocking=False)
    scheduler.start(paused=True)
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        check = jobs["slip-check-1"]
        assert isinstance(check.trigger, CronTrigger) and str(check.trigger.timezone) == "Europe/Amsterdam"
        assert check.args == ("p",) and "outbox" in jobs
    finally:
        shut_down(scheduler)
    # The jobs live in the application database: a restarted scheduler finds them there.
    from sqlalchemy import text

    stored = db_session.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
    assert {"slip-check-1", "outbox", "sync-projects"} <= set(stored)

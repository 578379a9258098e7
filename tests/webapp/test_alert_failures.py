"""Alerts that cannot go (issue #22, item 3), against a real SMTP server (aiosmtpd) and a local HTTP
server standing in for Twilio: a message that can never be built or sent (CR/LF in its subject, an
SMTP 5xx, a number Twilio refuses) is marked ``failed`` with the reason, its attempt counted, the
others go on and the commands exit 0 with the counts; a transient failure (4xx, 503) is retried.
A task name with ``\\r\\nBcc:`` is cleaned at import and its alert goes to its subscriber only."""

import csv
import datetime as dt
import json
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from tests.webapp.conftest import smtp_server
from twin.generate import generate_building
from webapp.models import DeliveryAttempt, Element, OutboxMessage

NOW = "2027-02-15T08:00"
LATER = dt.datetime(2027, 2, 16, 8, 0, tzinfo=dt.UTC)  # past every backoff and stale claim of NOW's attempts
#: Recipients the SMTP server refuses for good (5xx) or for now (4xx).
GONE, BUSY = "gone@example.com", "busy@example.com"
#: Numbers the fake Twilio refuses for good (400, error 21211) or for now (503).
INVALID, DOWN = "+15005550001", "+15005550002"


class Inbox:
    """Accepts mail, but answers 550 for GONE and 451 for BUSY at RCPT TO, as a real server would."""

    def __init__(self):
        self.messages = []  # (envelope recipients, parsed message)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == GONE:
            return "550 5.1.1 <gone@example.com>: mailbox unavailable"
        if address == BUSY:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content,
                                                                          policy=default_policy)))
        return "250 OK"


@pytest.fixture
def smtp(app):
    with smtp_server(app, Inbox()) as inbox:
        yield inbox


@pytest.fixture
def twilio(app):
    """A local Twilio: 201 for a good number, Twilio's 400/21211 for INVALID, 503 for DOWN."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            to = form["To"][0]
            received.append(to)
            if to == INVALID:
                status, reply = 400, {"code": 21211, "message": f"The 'To' number {to} is not valid.",
                                      "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}
            elif to == DOWN:
                status, reply = 503, {"code": 20503, "message": "Service unavailable", "status": 503}
            else:
                status, reply = 201, {"sid": "SM123", "status": "queued", "to": to, "body": ""}
            body = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app.config.update(TWILIO_API_BASE=f"http://127.0.0.1:{server.server_address[1]}", SMS_PROVIDER="twilio",
                      TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="secret",
                      TWILIO_FROM="+15005550006")
    yield received
    server.shutdown()
    server.server_close()


@pytest.fixture
def site(runner, db_session, tmp_path):
    """A generated building with its schedule, seen absent, and a slip rule on structure: one task
    breaches at NOW."""
    path = tmp_path / "b.ifc"
    generate_building(path, storeys=1, seed=5)
    for args in (["ingest", str(path), "--project", "p"], ["schedule", "import", str(path), "--project", "p"],
                 ["alerts", "rule", "add", "--project", "p", "--kind", "slip_days", "--threshold", "3",
                  "--trade", "structure"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.stderr
    seen_absent(db_session)
    return path


def seen_absent(db_session) -> None:
    """Every element seen absent by a walk before the schedule started: behind once due (an element
    never seen is "not observed", never behind)."""
    from webapp.models import Element, ElementStatus, Project

    project_id = db_session.scalar(select(Project.id).where(Project.name == "p"))
    walked = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    for gid in db_session.scalars(select(Element.global_id).where(Element.triangles > 0)):
        db_session.add(ElementStatus(project_id=project_id, global_id=gid, stage=0, first_seen=walked,
                                     last_seen=walked))
    db_session.commit()


def cli(runner, *args) -> dict:
    result = runner.invoke(args=[*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def subscribe(runner, *recipients: str) -> None:
    for to in recipients:
        option = "--email" if "@" in to else "--phone"
        assert runner.invoke(args=["alerts", "subscribe", "--project", "p", option, to]).exit_code == 0


def messages(db_session) -> dict[str, OutboxMessage]:
    db_session.expire_all()
    return {m.to: m for m in db_session.scalars(select(OutboxMessage))}


def test_an_unbuildable_message_is_failed_with_its_reason_and_the_others_go(app, runner, db_session, site,
                                                                            smtp):
    subscribe(runner, "pm@example.com", "site@example.com")
    queued = cli(runner, "alerts", "check", "--project", "p", "--now", NOW, "--no-deliver")["queued_messages"]
    assert queued == 2
    # A row stored before import cleaned task names: its subject carries a header injection.
    bad = messages(db_session)["pm@example.com"]
    bad.subject = "[p] Walls\r\nBcc: evil@example.com slips 9 days"
    db_session.execute(OutboxMessage.__table__.update().values(next_attempt_at=dt.datetime(2020, 1, 1,
                                                                                            tzinfo=dt.UTC)))
    db_session.commit()
    counts = cli(runner, "alerts", "deliver")
    assert counts == {"sent": 1, "failed": 0, "undeliverable": 1}
    rows = messages(db_session)
    assert rows["pm@example.com"].state == "failed" and rows["pm@example.com"].attempts == 1
    assert "cannot build the email" in rows["pm@example.com"].last_error
    assert rows["site@example.com"].state == "sent"
    assert [rcpt for rcpt, _ in smtp.messages] == [["site@example.com"]]
    attempts = db_session.scalars(select(DeliveryAttempt).where(
        DeliveryAttempt.message_id == rows["pm@example.com"].id)).all()
    assert [(a.ok, "linefeed" in (a.error or "") or "carriage" in (a.error or "")) for a in attempts] == [
        (False, True)]
    # Failed for good: never claimed again, however late (no crash-retry loop every ten minutes).
    from webapp.services.alerts import deliver_outbox

    with app.app_context():
        assert deliver_outbox(db_session, app.config, LATER) == {"sent": 0, "failed": 0, "undeliverable": 0}
    assert messages(db_session)["pm@example.com"].attempts == 1 and len(smtp.messages) == 1


def test_an_smtp_5xx_fails_the_message_and_a_4xx_is_retried(app, runner, db_session, site, smtp):
    subscribe(runner, GONE, BUSY, "pm@example.com")
    result = runner.invoke(args=["alerts", "check", "--project", "p", "--now", NOW])
    assert result.exit_code == 0, result.output
    assert "sent 1, failed 1 (will retry), undeliverable 1" in result.stdout
    rows = messages(db_session)
    assert rows[GONE].state == "failed" and rows[GONE].attempts == 1 and "550" in rows[GONE].last_error
    assert rows[BUSY].state == "pending" and rows[BUSY].attempts == 1 and "451" in rows[BUSY].last_error
    assert rows["pm@example.com"].state == "sent"
    first_retry = rows[BUSY].next_attempt_at
    # The busy mailbox is retried (with backoff) and keeps counting; the gone one is not tried again.
    from webapp.services.alerts import deliver_outbox

    with app.app_context():
        assert deliver_outbox(db_session, app.config, LATER) == {"sent": 0, "failed": 1, "undeliverable": 0}
    rows = messages(db_session)
    assert rows[BUSY].attempts == 2 and rows[BUSY].state == "pending"
    assert rows[BUSY].next_attempt_at.replace(tzinfo=None) > first_retry.replace(tzinfo=None)
    assert rows[GONE].attempts == 1 and rows[GONE].state == "failed"


def test_a_number_twilio_refuses_fails_and_a_twilio_outage_is_retried(app, runner, db_session, site, twilio):
    subscribe(runner, INVALID, DOWN, "+447700900123")
    out = cli(runner, "alerts", "check", "--project", "p", "--now", NOW)
    assert out["delivery"] == {"sent": 1, "failed": 1, "undeliverable": 1}
    rows = messages(db_session)
    assert rows[INVALID].state == "failed" and "21211" in rows[INVALID].last_error
    assert rows[DOWN].state == "pending" and "503" in rows[DOWN].last_error
    assert rows["+447700900123"].state == "sent"
    assert sorted(twilio) == sorted([INVALID, DOWN, "+447700900123"])


def test_a_webhook_400_fails_the_message_and_a_500_is_retried(app, runner, db_session, site):
    statuses = {"+447700900001": 400, "+447700900002": 500, "+447700900003": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            to = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["to"]
            self.send_response(statuses[to])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app.config.update(SMS_PROVIDER="webhook", SMS_WEBHOOK_URL=f"http://127.0.0.1:{server.server_address[1]}/")
        subscribe(runner, *statuses)
        out = cli(runner, "alerts", "check", "--project", "p", "--now", NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert out["delivery"] == {"sent": 1, "failed": 1, "undeliverable": 1}
    rows = messages(db_session)
    assert [rows[n].state for n in statuses] == ["failed", "pending", "sent"]


def test_a_task_name_with_a_header_injection_is_cleaned_and_mails_only_its_subscriber(app, runner, db_session,
                                                                                      site, smtp, tmp_path):
    with app.app_context():
        gids = list(db_session.scalars(select(Element.global_id).where(Element.tracked_class.is_not(None))
                                       .order_by(Element.global_id).limit(3)))
    plan = tmp_path / "plan.csv"
    with open(plan, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "planned_start", "planned_finish", "elements", "trade"])
        writer.writerow(["T1", "Columns\r\nBcc: evil@example.com", "2027-01-04", "2027-01-29", ";".join(gids),
                         "structure\r\n"])
    result = runner.invoke(args=["schedule", "import", str(plan), "--project", "p"])
    assert result.exit_code == 0, result.stderr
    subscribe(runner, "pm@example.com")
    out = cli(runner, "alerts", "check", "--project", "p", "--now", NOW)
    assert out["delivery"] == {"sent": 1, "failed": 0, "undeliverable": 0}
    ((rcpt, mail),) = smtp.messages
    assert rcpt == ["pm@example.com"] and mail["Bcc"] is None
    assert mail["Subject"].startswith("[p] Columns Bcc: evil@example.com slips")

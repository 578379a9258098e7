"""Slip checks and the alert outbox.

``check_alerts`` evaluates every enabled rule on every task of the project's current schedule:
a breach without an unresolved alert opens one and queues a message per subscribed recipient and
channel (stored before anything is sent); an alert whose task is back within its rule resolves,
which re-arms the rule for that task. ``deliver_outbox`` sends what is due, claiming each message
under a row lock so that two schedulers never send the same one, and retries failures with
exponential backoff, recording every attempt; a message that can never go (unbuildable headers,
an SMTP 5xx, an invalid number) is marked ``failed`` with its reason and the others go on.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from twin.schedule import clean_text
from webapp.models import Alert, AlertRule, DeliveryAttempt, OutboxMessage, Project, Recipient
from webapp.notify import DeliveryError, PermanentDeliveryError, channel_for
from webapp.services.schedules import project_progress
from webapp.services.twins import get_project

log = logging.getLogger(__name__)

#: Backoff after the n-th failure: 30 s, 1 min, 2 min ... capped at an hour; a mail server down for
#: hours keeps being retried hourly and loses nothing.
BACKOFF_BASE_S = 30
BACKOFF_CAP_S = 3600
#: A message claimed for sending longer ago than this is taken to belong to a crashed sender.
STALE_CLAIM = dt.timedelta(minutes=10)


@dataclass
class CheckResult:
    project: str
    date: str
    opened: list[dict] = field(default_factory=list)
    resolved: list[dict] = field(default_factory=list)
    still_open: int = 0
    queued_messages: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def breach(rule: AlertRule, task: dict, date: dt.date) -> bool:
    """Whether ``task`` (a row of :func:`project_progress`) breaks ``rule`` on ``date``. A task none
    of whose elements a capture has seen ("not observed") breaks none: unknown is not late."""
    if task["actual_pct"] >= 100.0 or task.get("status") == "not observed":
        return False
    if rule.kind == "slip_days":
        return task["slip_days"] >= rule.threshold
    if rule.kind == "behind_pct":
        return task["planned_pct"] - task["actual_pct"] >= rule.threshold
    if rule.kind == "past_finish":
        return date > dt.date.fromisoformat(task["planned_finish"])
    if rule.kind == "forecast_beyond":
        milestone = rule.milestone or dt.date.fromisoformat(task["planned_finish"])
        if task["forecast_finish"] is None:  # no production: it finishes after the milestone once that passes
            return date > milestone
        return dt.date.fromisoformat(task["forecast_finish"]) > milestone
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def _applies(filter_value: str | None, value: str | None) -> bool:
    return filter_value is None or filter_value == value


def task_link(config: Mapping[str, Any], project: Project, task_key: str) -> str:
    base = str(config.get("SITETWIN_BASE_URL", "http://localhost:5000")).rstrip("/")
    return f"{base}/projects/{project.id}/tasks/{quote(task_key, safe='')}"


def compose(project: Project, rule: AlertRule, task: dict, link: str) -> tuple[str, str, str, str]:
    """(subject, plain text, HTML, one-line SMS) for an alert."""
    forecast = task["forecast_finish"] or "no forecast (no recent progress)"
    why = {
        "slip_days": f"slips {task['slip_days']:.1f} days (rule: ≥ {rule.threshold:g})",
        "behind_pct": f"is {task['planned_pct'] - task['actual_pct']:.1f} points behind plan (rule: ≥ {rule.threshold:g})",
        "past_finish": f"is past its planned finish {task['planned_finish']} and not complete",
        "forecast_beyond": f"is forecast to finish {forecast}, after {rule.milestone or task['planned_finish']}",
    }[rule.kind]
    # Names were cleaned at import; cleaned again here for rows stored before that (a header stays one line).
    subject = clean_text(f"[{project.name}] {task['name']} {why.split(' (')[0]}")
    text = (f"{task['name']} {why}.\n\n"
            f"Done {task['actual_pct']:.1f} % against {task['planned_pct']:.1f} % planned; slip "
            f"{task['slip_days']:.1f} days; planned finish {task['planned_finish']}; forecast finish {forecast}.\n\n"
            f"Task and photographic evidence: {link}\n")
    body = html.escape
    rich = (f"<p><strong>{body(task['name'])}</strong> {body(why)}.</p>"
            f"<table><tr><td>Done</td><td>{task['actual_pct']:.1f} %</td></tr>"
            f"<tr><td>Planned</td><td>{task['planned_pct']:.1f} %</td></tr>"
            f"<tr><td>Slip</td><td>{task['slip_days']:.1f} days</td></tr>"
            f"<tr><td>Planned finish</td><td>{body(task['planned_finish'])}</td></tr>"
            f"<tr><td>Forecast finish</td><td>{body(forecast)}</td></tr></table>"
            f"<p><a href=\"{body(link)}\">Open the task and its evidence</a></p>")
    sms = clean_text(f"{project.name}: {task['name']} {why.split(' (')[0]}, forecast {forecast}. {link}")
    return subject, text, rich, sms


def check_alerts(session: Session, config: Mapping[str, Any], project_name: str,
                 now: dt.datetime | None = None) -> CheckResult:
    """Open, keep or resolve alerts for every rule and task; queue messages for new ones."""
    project = get_project(session, project_name)
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(project.timezone or "UTC")).date()
    report = project_progress(session, project_name, today)
    rules = session.scalars(select(AlertRule).where(AlertRule.project_id == project.id, AlertRule.enabled)).all()
    recipients = session.scalars(select(Recipient).where(Recipient.project_id == project.id,
                                                         Recipient.active)).all()
    result = CheckResult(project.name, today.isoformat())
    for rule in rules:
        for task in report["tasks"]:
            if not (_applies(rule.trade, task["trade"]) and _applies(rule.storey, task["storey"])):
                continue
            existing = session.scalar(select(Alert).where(Alert.rule_id == rule.id, Alert.task_key == task["id"],
                                                          Alert.state != "resolved"))
            if breach(rule, task, today):
                if existing is not None:
                    result.still_open += 1
                    continue
                opened = _open_alert(session, config, project, rule, task, recipients, now)
                if opened is not None:
                    result.opened.append({"rule": rule.kind, "task": task["name"], "slip_days": task["slip_days"]})
                    result.queued_messages += len(opened.messages)
            elif existing is not None:
                existing.state, existing.resolved_at = "resolved", now
                session.commit()
                result.resolved.append({"rule": rule.kind, "task": task["name"]})
    return result


def _open_alert(session, config, project, rule, task, recipients, now) -> Alert | None:
    """Insert the alert and its messages in one transaction; None when another process won."""
    link = task_link(config, project, task["id"])
    subject, text, rich, sms = compose(project, rule, task, link)
    alert = Alert(project_id=project.id, rule_id=rule.id, task_key=task["id"], task_name=task["name"],
                  state="open", opened_at=now, details={k: task[k] for k in
                                                         ("planned_pct", "actual_pct", "slip_days", "forecast_finish")})
    session.add(alert)
    try:
        session.flush()
        for recipient in recipients:
            if not (_applies(recipient.trade, task["trade"]) and _applies(recipient.storey, task["storey"])):
                continue
            if recipient.email:
                session.add(OutboxMessage(alert_id=alert.id, recipient_id=recipient.id, channel="email",
                                          to=recipient.email, subject=subject, body_text=text, body_html=rich,
                                          next_attempt_at=now))
            if recipient.phone:
                session.add(OutboxMessage(alert_id=alert.id, recipient_id=recipient.id, channel="sms",
                                          to=recipient.phone, subject=subject, body_text=sms, next_attempt_at=now))
        session.commit()
    except IntegrityError:  # the partial unique index: another scheduler opened this breach first
        session.rollback()
        return None
    session.refresh(alert)
    return alert


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_CAP_S))


def _claim(session: Session, now: dt.datetime) -> OutboxMessage | None:
    """Take one due message for this sender, under a row lock (skipped by other senders)."""
    due = ((OutboxMessage.state == "pending") & (OutboxMessage.next_attempt_at <= now)) | (
        (OutboxMessage.state == "sending") & (OutboxMessage.claimed_at < now - STALE_CLAIM))
    query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    message = session.scalar(query)
    if message is None:
        session.rollback()
        return None
    # Compare-and-set: on SQLite (no row locks) the state check makes the claim exclusive.
    claimed = session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id,
                                                          OutboxMessage.state == message.state)
                              .values(state="sending", claimed_at=now))
    session.commit()
    if claimed.rowcount != 1:
        return None
    session.refresh(message)
    return message


def deliver_outbox(session: Session, config: Mapping[str, Any], now: dt.datetime | None = None,
                   limit: int = 100) -> dict[str, int]:
    """Send the due messages (at most ``limit``); returns counts of attempts: ``sent``, ``failed``
    (retried later with backoff) and ``undeliverable`` (marked ``failed`` for good with the reason:
    unbuildable headers, an SMTP 5xx, a number the provider refuses). One message's failure,
    whatever it is, never stops the others."""
    counts = {"sent": 0, "failed": 0, "undeliverable": 0}
    for _ in range(limit):
        moment = now or dt.datetime.now(dt.UTC)
        message = _claim(session, moment)
        if message is None:
            break
        error, permanent = None, False
        try:
            channel_for(message.channel, config).send(message.to, message.subject, message.body_text,
                                                      message.body_html)
        except PermanentDeliveryError as failure:
            error, permanent = str(failure), True
        except DeliveryError as failure:
            error = str(failure)
        except Exception as failure:  # a bug or an unforeseen library error: logged, retried with backoff
            log.exception("sending outbox message %s failed unexpectedly", message.id)
            error = f"unexpected {type(failure).__name__}: {failure}"
        session.add(DeliveryAttempt(message_id=message.id, at=moment, ok=error is None, error=error))
        message.attempts += 1
        if error is None:
            message.state, message.sent_at, message.last_error = "sent", moment, None
            alert = message.alert
            if alert.state == "open":
                alert.state, alert.notified_at = "notified", moment
            counts["sent"] += 1
        elif permanent:
            message.state, message.last_error = "failed", error
            counts["undeliverable"] += 1
        else:
            message.state, message.last_error = "pending", error
            message.next_attempt_at = moment + backoff(message.attempts)
            counts["failed"] += 1
        session.commit()
    return counts

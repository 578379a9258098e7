"""Celery, for sites that outgrow one machine: when ``CELERY_BROKER_URL`` is set, finalised
captures go to Redis and any number of ``sitetwin worker`` processes take them.

Tasks are acknowledged late and requeued if a worker dies mid-capture; processing writes a
capture in one transaction, so running it again duplicates nothing.
"""

from __future__ import annotations

import os

from celery import Celery

celery = Celery("sitetwin")
celery.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL", "memory://"),
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_default_queue="sitetwin",
    broker_connection_retry_on_startup=True,
)


@celery.task(name="sitetwin.process_capture", bind=True, max_retries=3)
def process_capture_task(self, capture_id: int) -> str:
    """Process an uploaded capture (in the worker's own app, configured from its environment)."""
    from webapp.jobs import process_uploaded_capture

    state = process_uploaded_capture(capture_id)
    if state == "failed" and self.request.retries < self.max_retries:
        raise self.retry(countdown=5 * 2 ** self.request.retries)  # the error is on the capture meanwhile
    return state

"""SMS (or anything) through a generic HTTP webhook: a JSON POST of ``{to, subject, text}``.
A 400, 404, 410, 413 or 422 answer fails the message for good; other failures are retried."""

from __future__ import annotations

import requests

from webapp.notify.base import Channel, DeliveryError, PermanentDeliveryError, register

#: Answers of the webhook that say the message itself is refused (retrying cannot help).
PERMANENT_STATUSES = frozenset({400, 404, 410, 413, 422})


@register
class WebhookChannel(Channel):
    name = "webhook"

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        url = self.config.get("SMS_WEBHOOK_URL")
        if not url:
            raise DeliveryError("SMS_WEBHOOK_URL is not set")
        try:
            response = requests.post(url, json={"to": to, "subject": subject, "text": text}, timeout=10)
        except requests.RequestException as error:
            raise DeliveryError(f"webhook {url}: {error}") from error
        if response.status_code in PERMANENT_STATUSES:
            raise PermanentDeliveryError(f"webhook {url}: HTTP {response.status_code} (refused for good)")
        if response.status_code >= 300:
            raise DeliveryError(f"webhook {url}: HTTP {response.status_code}")

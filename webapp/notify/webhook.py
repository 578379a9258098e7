"""SMS (or anything) through a generic HTTP webhook: a JSON POST of ``{to, subject, text}``."""

from __future__ import annotations

import requests

from webapp.notify.base import Channel, DeliveryError, register


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
        if response.status_code >= 300:
            raise DeliveryError(f"webhook {url}: HTTP {response.status_code}")

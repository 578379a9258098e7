"""SMS through Twilio (the ``twilio`` package). ``TWILIO_API_BASE`` points it elsewhere (tests)."""

from __future__ import annotations

from webapp.notify.base import Channel, DeliveryError, register


@register
class TwilioChannel(Channel):
    name = "twilio"

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        from twilio.base.exceptions import TwilioException
        from twilio.rest import Client

        c = self.config
        client = Client(c.get("TWILIO_ACCOUNT_SID"), c.get("TWILIO_AUTH_TOKEN"))
        if c.get("TWILIO_API_BASE"):
            client.api.base_url = c["TWILIO_API_BASE"].rstrip("/")
        try:
            client.messages.create(to=to, from_=c.get("TWILIO_FROM"), body=text[:1600])
        except (TwilioException, OSError) as error:
            raise DeliveryError(f"Twilio: {error}") from error

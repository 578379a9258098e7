"""SMS through Twilio (the ``twilio`` package). ``TWILIO_API_BASE`` points it elsewhere (tests).

Twilio's 4xx answers about the message itself (an invalid or unreachable number, a body it will
not take: HTTP 400 or 404) fail for good; 401/403/429, 5xx and network errors are retried."""

from __future__ import annotations

from webapp.notify.base import Channel, DeliveryError, PermanentDeliveryError, register

#: HTTP statuses of Twilio's REST API that retrying the same message cannot change.
PERMANENT_STATUSES = frozenset({400, 404, 410, 422})


@register
class TwilioChannel(Channel):
    name = "twilio"

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        from twilio.base.exceptions import TwilioException, TwilioRestException
        from twilio.rest import Client

        c = self.config
        client = Client(c.get("TWILIO_ACCOUNT_SID"), c.get("TWILIO_AUTH_TOKEN"))
        if c.get("TWILIO_API_BASE"):
            client.api.base_url = c["TWILIO_API_BASE"].rstrip("/")
        try:
            client.messages.create(to=to, from_=c.get("TWILIO_FROM"), body=text[:1600])
        except TwilioRestException as error:
            kind = PermanentDeliveryError if error.status in PERMANENT_STATUSES else DeliveryError
            raise kind(f"Twilio: HTTP {error.status}, error {error.code}: {error.msg}") from error
        except (TwilioException, OSError) as error:
            raise DeliveryError(f"Twilio: {error}") from error

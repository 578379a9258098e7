"""Email through SMTP (stdlib ``smtplib``): plain text and HTML, STARTTLS or SSL, optional auth.

A message whose headers cannot be built (a CR/LF in the subject, an unencodable address) or that
the server refuses with a 5xx reply fails for good (:class:`PermanentDeliveryError`); a refused
connection, a timeout or a 4xx reply is retried."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from webapp.notify.base import Channel, DeliveryError, PermanentDeliveryError, register


def _permanent(error: smtplib.SMTPException) -> bool:
    """Whether the server's reply says that retrying the same message cannot succeed (5xx)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600


@register
class EmailChannel(Channel):
    name = "email"

    def build(self, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
        """The email; :class:`PermanentDeliveryError` when its headers or body cannot be built."""
        try:
            message = EmailMessage()
            message["From"] = self.config.get("SMTP_FROM", "sitetwin@localhost")
            message["To"] = to
            message["Subject"] = subject
            message.set_content(text)
            if html:
                message.add_alternative(html, subtype="html")
            message.as_bytes()  # header folding raises here for what assignment let through
        except (ValueError, TypeError) as error:
            raise PermanentDeliveryError(f"cannot build the email to {to!r}: {error}") from error
        return message

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        c = self.config
        message = self.build(to, subject, text, html)
        host, port = c.get("SMTP_HOST", "localhost"), int(c.get("SMTP_PORT", 25))
        security = c.get("SMTP_SECURITY", "none")
        timeout = float(c.get("SMTP_TIMEOUT", 10))
        try:
            if security == "ssl":
                server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            else:
                server = smtplib.SMTP(host, port, timeout=timeout)
            with server:
                if security == "starttls":
                    server.starttls(context=ssl.create_default_context())
                if c.get("SMTP_USER"):
                    server.login(c["SMTP_USER"], c.get("SMTP_PASSWORD", ""))
                server.send_message(message)
        except smtplib.SMTPException as error:
            kind = PermanentDeliveryError if _permanent(error) else DeliveryError
            raise kind(f"SMTP {host}:{port}: {error}") from error
        except OSError as error:
            raise DeliveryError(f"SMTP {host}:{port}: {error}") from error
        except ValueError as error:  # e.g. a non-ASCII address the server cannot take (SMTPUTF8)
            raise PermanentDeliveryError(f"SMTP {host}:{port}: {error}") from error

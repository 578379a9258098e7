"""Email through SMTP (stdlib ``smtplib``): plain text and HTML, STARTTLS or SSL, optional auth."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from webapp.notify.base import Channel, DeliveryError, register


@register
class EmailChannel(Channel):
    name = "email"

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        c = self.config
        message = EmailMessage()
        message["From"] = c.get("SMTP_FROM", "sitetwin@localhost")
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
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
        except (OSError, smtplib.SMTPException) as error:
            raise DeliveryError(f"SMTP {host}:{port}: {error}") from error

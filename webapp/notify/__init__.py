"""Notification channels (Redash's destinations pattern): a base class, one module per channel,
and a registry. ``channel_for(kind, config)`` gives the configured sender for "email" or "sms"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.notify.base import Channel, DeliveryError, PermanentDeliveryError, register, registry


def channel_for(kind: str, config: Mapping[str, Any]) -> Channel:
    """The channel that sends ``kind`` messages ("email", or "sms" by SMS_PROVIDER)."""
    import webapp.notify.email  # noqa: F401  (modules register their channel on import)
    import webapp.notify.twilio_sms  # noqa: F401
    import webapp.notify.webhook  # noqa: F401

    name = config.get("SMS_PROVIDER", "twilio") if kind == "sms" else kind
    if name not in registry:
        raise DeliveryError(f"no channel {name!r} (known: {', '.join(sorted(registry))})")
    return registry[name](config)


__all__ = ["Channel", "DeliveryError", "PermanentDeliveryError", "channel_for", "register", "registry"]

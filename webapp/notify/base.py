"""The channel interface and its registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

registry: dict[str, type[Channel]] = {}


class DeliveryError(RuntimeError):
    """A message could not be delivered now (it will be retried). ``str()`` says why."""


class PermanentDeliveryError(DeliveryError):
    """A message that can never be delivered as it is (unbuildable headers, an SMTP 5xx, a number the
    SMS provider refuses): it is marked ``failed`` with the reason and not retried."""


class Channel:
    """Sends one message. Subclasses set ``name`` and implement :meth:`send`."""

    name = ""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config

    def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        raise NotImplementedError


def register(channel: type[Channel]) -> type[Channel]:
    registry[channel.name] = channel
    return channel

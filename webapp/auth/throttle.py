"""Sign-in throttling with the ``limits`` library: failures per account, attempts per client address.

Counters live in RATELIMIT_STORAGE_URI (Redis when configured, so every web process shares them;
memory otherwise). Moving windows: ``5 per 15 minutes`` refuses a sixth failure until the first is
15 minutes old. A refused attempt verifies no password at all, so even the right one is refused (429).
Only the sign-in and password-change forms are throttled; the API's bearer tokens are not.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

EXTENSION = "sitetwin_signin_throttle"


@dataclass
class Refusal:
    """Why an attempt is refused and how many seconds until the next one may succeed."""

    scope: str  # "account", "address", or "unavailable" (the counters cannot be reached)
    retry_after: int


class SignInThrottle:
    def __init__(self, storage_uri: str, per_account: str, per_address: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, wrap_exceptions=True))
        self.per_account: RateLimitItem = parse(per_account)
        self.per_address: RateLimitItem = parse(per_address)

    @staticmethod
    def _account(email: str) -> str:
        # Hashed: the counter's key carries no address, and any length of input makes one short key.
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()

    def _retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        reset = self.limiter.get_window_stats(item, *identifiers).reset_time
        return max(1, math.ceil(reset - time.time()))

    def attempt(self, email: str, address: str) -> Refusal | None:
        """Count an attempt from ``address`` for ``email`` and reserve one failure of the account (so
        that parallel guesses cannot overrun the limit); a refusal when either limit is used up, or
        when the counters cannot be reached (no unlimited guessing while Redis is down)."""
        try:
            if not self.limiter.hit(self.per_address, "signin-address", address):
                return Refusal("address", self._retry_after(self.per_address, "signin-address", address))
            account = self._account(email)
            if not self.limiter.hit(self.per_account, "signin-account", account):
                return Refusal("account", self._retry_after(self.per_account, "signin-account", account))
        except StorageError as error:
            current_app.logger.error("sign-in refused: the rate-limit storage cannot be reached: %s", error)
            return Refusal("unavailable", 30)
        return None

    def succeeded(self, email: str) -> None:
        """The right password: the account's reserved failures are forgotten."""
        try:
            self.limiter.clear(self.per_account, "signin-account", self._account(email))
        except StorageError as error:  # the failures lapse with their window anyway
            current_app.logger.warning("could not clear sign-in failures: %s", error)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = SignInThrottle(app.config["RATELIMIT_STORAGE_URI"],
                                               app.config["SITETWIN_SIGNIN_ACCOUNT_LIMIT"],
                                               app.config["SITETWIN_SIGNIN_ADDRESS_LIMIT"])


def throttle() -> SignInThrottle:
    return current_app.extensions[EXTENSION]


def message(refusal: Refusal) -> str:
    """The sentence the sign-in page shows."""
    minutes = math.ceil(refusal.retry_after / 60)
    wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if refusal.scope == "unavailable":
        return "Sign-in is unavailable for a moment (its attempt counters cannot be reached). Try again soon."
    if refusal.scope == "account":
        return f"Too many failed sign-ins for this account. Try again in {wait}."
    return f"Too many sign-in attempts from this address. Try again in {wait}."

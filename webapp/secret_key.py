"""What makes a SECRET_KEY too weak for production: it signs session cookies, remember-me cookies and
CSRF tokens, so a short or published one lets anyone forge a signed-in session."""

from __future__ import annotations

#: Fewer characters than this is refused outside development (``secrets.token_urlsafe(32)`` gives 43).
MIN_SECRET_KEY_LENGTH = 32

#: Placeholders from this repository's examples and common tutorials (compared lower-case).
KNOWN_PLACEHOLDERS = frozenset({
    "sitetwin-development-only", "change-me-to-a-long-random-string", "change-me", "changeme",
    "secret", "secret-key", "secret_key", "your-secret-key", "dev", "development", "please-change-me",
})


def weakness(key: str) -> str | None:
    """Why ``key`` may not sign production sessions, or None when it may."""
    if key.strip().lower() in KNOWN_PLACEHOLDERS or "change-me" in key.lower() or "changeme" in key.lower():
        return "SECRET_KEY is a published placeholder"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SECRET_KEY has {len(key)} characters, fewer than {MIN_SECRET_KEY_LENGTH}"
    return None

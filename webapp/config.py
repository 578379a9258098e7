"""Configuration from environment variables, with embedded defaults that work on a laptop.

Every setting is documented in ``docs/configuration.md``. Tests pass their own mapping to
:func:`webapp.create_app`, which overrides these.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path


def _data_dir() -> Path:
    return Path(os.environ.get("SITETWIN_DATA_DIR", "instance")).resolve()


class Config:
    """Read once per app; values are plain attributes Flask copies into ``app.config``."""

    def __init__(self) -> None:
        data_dir = _data_dir()
        self.SITETWIN_DATA_DIR = str(data_dir)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{data_dir / 'sitetwin.sqlite3'}"
        )
        # Signs session cookies and CSRF tokens. Required outside development (create_app refuses to start).
        self.SECRET_KEY = os.environ.get("SECRET_KEY", "")
        self.SITETWIN_ENV = os.environ.get("SITETWIN_ENV", "development")
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = self.SITETWIN_ENV != "development"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        # Sign-in sessions (server-side records): days a remember-me cookie lasts, hours a browser session.
        remember_days = float(os.environ.get("SITETWIN_REMEMBER_DAYS", "30"))
        self.REMEMBER_COOKIE_DURATION = dt.timedelta(days=remember_days)
        self.SITETWIN_SESSION_HOURS = float(os.environ.get("SITETWIN_SESSION_HOURS", "24"))
        # Sign-in throttling (limits' notation): failures per account, attempts per client address.
        self.SITETWIN_SIGNIN_ACCOUNT_LIMIT = os.environ.get("SITETWIN_SIGNIN_ACCOUNT_LIMIT",
                                                            "5 per 15 minutes")
        self.SITETWIN_SIGNIN_ADDRESS_LIMIT = os.environ.get("SITETWIN_SIGNIN_ADDRESS_LIMIT", "30 per minute")
        # Where the counters live: Redis when the broker is Redis (shared by every web process), else memory.
        broker = os.environ.get("CELERY_BROKER_URL", "")
        self.RATELIMIT_STORAGE_URI = os.environ.get(
            "RATELIMIT_STORAGE_URI", broker if broker.startswith(("redis://", "rediss://")) else "memory://"
        )
        # Reverse proxies in front that set X-Forwarded-For/-Proto (the client's address for sign-in limits).
        self.SITETWIN_PROXY_COUNT = int(os.environ.get("SITETWIN_PROXY_COUNT", "0"))
        # Redirect plain HTTP to HTTPS (and send HSTS); on outside development.
        self.SITETWIN_FORCE_HTTPS = os.environ.get(
            "SITETWIN_FORCE_HTTPS", "0" if self.SITETWIN_ENV == "development" else "1"
        ) not in {"0", "false", "no"}
        # Compress what a site office's connection waits for: plans, storey models, status maps, pages.
        self.COMPRESS_MIMETYPES = ["text/html", "text/css", "application/javascript", "text/javascript",
                                   "application/json", "image/svg+xml", "model/gltf-binary"]
        self.COMPRESS_ALGORITHM = ["gzip"]
        # Not streamed responses (static files): Flask-Compress leaves their file open (a leak under load).
        self.COMPRESS_STREAMS = False
        # CSRF tokens are tied to the session, not to a clock: a form left open for a shift still posts.
        self.WTF_CSRF_TIME_LIMIT = None
        # Tessellation threads (ifcopenshell.geom.iterator); 0 = every core.
        self.SITETWIN_THREADS = int(os.environ.get("SITETWIN_THREADS", "0"))
        # Apply pending migrations before a CLI command touches the database.
        self.SITETWIN_AUTO_MIGRATE = os.environ.get("SITETWIN_AUTO_MIGRATE", "1") not in {"0", "false", "no"}
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Uploads: frame size and pixel limits (decompression bombs), background jobs.
        self.SITETWIN_MAX_FRAME_BYTES = int(os.environ.get("SITETWIN_MAX_FRAME_BYTES", str(40 * 1024 * 1024)))
        self.MAX_CONTENT_LENGTH = self.SITETWIN_MAX_FRAME_BYTES + 64 * 1024
        self.SITETWIN_MAX_FRAME_PIXELS = int(os.environ.get("SITETWIN_MAX_FRAME_PIXELS", str(8192 * 4096)))
        # Capture manifests: frames (or pose samples) per capture, request bytes, and how far outside
        # the model's extent (metres) a pose prior may be.
        self.SITETWIN_MAX_CAPTURE_FRAMES = int(os.environ.get("SITETWIN_MAX_CAPTURE_FRAMES", "20000"))
        self.SITETWIN_MAX_MANIFEST_BYTES = int(os.environ.get("SITETWIN_MAX_MANIFEST_BYTES",
                                                              str(16 * 1024**2)))
        self.SITETWIN_POSE_MARGIN_M = float(os.environ.get("SITETWIN_POSE_MARGIN_M", "50"))
        # 360° MP4 uploads: bytes per video, and frames it may yield at its manifest's interval.
        self.SITETWIN_MAX_VIDEO_BYTES = int(os.environ.get("SITETWIN_MAX_VIDEO_BYTES", str(4 * 1024**3)))
        self.SITETWIN_MAX_VIDEO_FRAMES = int(os.environ.get("SITETWIN_MAX_VIDEO_FRAMES", "5000"))
        # IFC models and schedules uploaded by managers (only their routes accept this much).
        self.SITETWIN_MAX_MODEL_BYTES = int(os.environ.get("SITETWIN_MAX_MODEL_BYTES", str(2 * 1024**3)))
        # Request guards (webapp/guards.py): deepest JSON nesting accepted (arrays and objects).
        self.SITETWIN_MAX_JSON_DEPTH = int(os.environ.get("SITETWIN_MAX_JSON_DEPTH", "32"))
        self.SITETWIN_JOBS = os.environ.get("SITETWIN_JOBS", "thread")
        # Celery with Redis for processing on other machines (unset: in-process).
        self.CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
        # Frames per chunk when Celery workers share a capture (a capture of more is split).
        self.SITETWIN_CHUNK_FRAMES = int(os.environ.get("SITETWIN_CHUNK_FRAMES", "4"))
        # Leases on captures in processing (webapp.leases): seconds a worker holds one without a
        # heartbeat (renewed every third of it), times a capture may be taken before it is failed,
        # the polling worker's period, and the seconds a Celery chunk may take before Redis gives it
        # to another worker (its visibility timeout).
        self.SITETWIN_LEASE_SECONDS = float(os.environ.get("SITETWIN_LEASE_SECONDS", "60"))
        self.SITETWIN_MAX_ATTEMPTS = int(os.environ.get("SITETWIN_MAX_ATTEMPTS", "3"))
        self.SITETWIN_WORKER_POLL_SECONDS = float(os.environ.get("SITETWIN_WORKER_POLL_SECONDS", "2"))
        self.SITETWIN_CHUNK_TIMEOUT = float(os.environ.get("SITETWIN_CHUNK_TIMEOUT", "600"))
        # Localise frames that carry no pose prior against the twin (vision.localise). Off until it
        # localises most frames and never wrongly (docs/accuracy.md, issue #24): off, such a frame
        # is reported not localised and makes no observation.
        self.SITETWIN_LOCALISE = os.environ.get("SITETWIN_LOCALISE", "0") not in {"0", "false", "no", ""}
        # Shared storage: empty = the data directory; s3://bucket/prefix = an S3-compatible bucket that
        # every host shares (SITETWIN_DATA_DIR is then this host's cache of it). Credentials: AWS_*.
        self.SITETWIN_STORAGE_URL = os.environ.get("SITETWIN_STORAGE_URL", "")
        # The S3 API's address for MinIO or another S3-compatible server (empty: AWS S3 itself).
        self.S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL", "")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
            setattr(self, name, os.environ.get(name, ""))  # empty: boto3's own chain (files, instance role)
        # Links in alerts point here (the dashboard's public address).
        self.SITETWIN_BASE_URL = os.environ.get("SITETWIN_BASE_URL", "http://localhost:5000")
        # The daily slip check, a crontab line in each project's time zone; outbox delivery period.
        self.SITETWIN_ALERT_CRON = os.environ.get("SITETWIN_ALERT_CRON", "0 7 * * *")
        self.SITETWIN_OUTBOX_SECONDS = int(os.environ.get("SITETWIN_OUTBOX_SECONDS", "30"))
        # Email (SMTP) and SMS (Twilio or a webhook).
        for name, default in (("SMTP_HOST", "localhost"), ("SMTP_PORT", "25"), ("SMTP_SECURITY", "none"),
                              ("SMTP_USER", ""), ("SMTP_PASSWORD", ""), ("SMTP_FROM", "sitetwin@localhost"),
                              ("SMTP_TIMEOUT", "10"), ("SMS_PROVIDER", "twilio"), ("TWILIO_ACCOUNT_SID", ""),
                              ("TWILIO_AUTH_TOKEN", ""), ("TWILIO_FROM", ""), ("TWILIO_API_BASE", ""),
                              ("SMS_WEBHOOK_URL", "")):
            setattr(self, name, os.environ.get(name, default))

"""Settings: embedded defaults, overridden by REPAIRDESK_* environment variables."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Returns the timedelta for '30m', '2h', '45s', '1d' or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 45s, 30m, 2h, 1d)")
    number, unit = match.groups()
    try:
        return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])
    except OverflowError:  # 1180591620717411303424: past what a timedelta holds
        raise ValueError(f"not a duration: {value!r} (far too long)") from None


def default_settings(instance_path: str) -> dict:
    """Returns the embedded defaults; every key can be set as REPAIRDESK_<KEY>."""
    instance = Path(instance_path)
    return {
        "SECRET_KEY": None,
        "DATABASE_URL": f"sqlite:///{instance / 'repairdesk.sqlite3'}",
        "REDIS_URL": "",
        "REDIS_TIMEOUT": "1s",
        "REDIS_SENTINELS": "",
        "REDIS_SENTINEL_MASTER": "",
        "EMBEDDED_REDIS_FILE": str(instance / "redis.rdb"),
        "PHOTO_DIR": str(instance / "photos"),
        # Empty: the local folders PHOTO_DIR and PHOTO_ORIGINALS_DIR; or
        # s3://BUCKET/PREFIX (S3-compatible object storage, the S3_* settings).
        "PHOTO_STORE": "",
        "S3_ENDPOINT_URL": "",
        "S3_REGION": "",
        "S3_ACCESS_KEY_ID": "",
        "S3_SECRET_ACCESS_KEY": "",
        "S3_ADDRESSING_STYLE": "auto",
        "PUBLIC_URL": "http://127.0.0.1:5000",
        "SMS_BACKEND": "console",
        "SMS_TIMEOUT": "10s",
        "SMS_PER_NUMBER_PER_DAY": 10,
        "DEFAULT_TIMEZONE": "Asia/Shanghai",
        "SLA_TRIAGE": "1h",
        "SLA_URGENT_CONTACT": "30m",
        "SLA_URGENT_ON_SITE": "2h",
        "SLA_GENERAL_ON_SITE": "24h",
        # Someone trapped in a lift: on site within this, whatever the urgent
        # on-site clock (TSG T5002: 30 minutes in a city with districts), and
        # accepted within this (then the backup gets as long again).
        "SLA_LIFT_ENTRAPMENT_ON_SITE": "30m",
        "SLA_LIFT_ENTRAPMENT_CONTACT": "15m",
        "SLA_SUPERVISOR_GRACE": "30m",
        # How long before a 12345 hotline's own deadline the officer is reminded.
        "SLA_HOTLINE_REMINDER": "2h",
        # The backup's own time to accept after a handover; empty: the urgent
        # contact window.
        "SLA_BACKUP_CONTACT": "",
        # The officer's follow-up call (回访) after a low rating or a second "not
        # fixed": its deadline, and how long before it the officer is reminded.
        "SLA_FOLLOWUP": "24h",
        "SLA_FOLLOWUP_REMINDER": "2h",
        "JOB_LINK_TTL": "7d",
        "JOB_LINK_MAX_AGE": "30d",
        "PHOTO_LINK_TTL": "2h",
        "OFFICER_IDLE_TIMEOUT": "12h",
        "LOGIN_LOCKOUT_AFTER": 5,
        "LOGIN_LOCKOUT": "1m",
        "LOGIN_LOCKOUT_MAX": "1h",
        "LOGIN_FAILURE_MEMORY": "1d",
        # Flask's own defaults leave SameSite unset; Secure follows PUBLIC_URL
        # (None: https:// means Secure, and HSTS is sent).
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": None,
        "BOARD_REFRESH_SECONDS": 10,
        "SCHEDULER_INTERVAL": "0.25s",
        "FOLLOW_UP_AFTER": "24h",
        "AUTO_CLOSE_AFTER": "72h",
        "ME_TOO_DAYS": 7,
        # A report of the same problem (same entrance, or building for lifts, water
        # and power; same category) within this time of an open ticket's latest
        # report joins its group (并单) instead of being dispatched on its own.
        "STORM_WINDOW": "2h",
        # How long /p/<community> keeps a month's figures (per process, and in
        # browsers and proxies); 0: computed on every request.
        "PUBLIC_RESULTS_MAX_AGE": "5m",
        "PHOTO_MAX_BYTES": 20 * 1024 * 1024,
        "PHOTO_MAX_PIXELS": 50_000_000,
        "PHOTOS_PER_TICKET": 3,
        "PHOTO_ORIGINALS_DIR": "",
        "PHOTO_ORIGINAL_TTL": "2h",
        # How much lower (Linux nice) the photo job's pixel work runs than the
        # worker: the web requests on the same machine go first (0: the same).
        "PHOTO_NICE": 10,
        # How long at most a photo job waits while a burst of reports is still
        # coming in (repair.photos.jobs.wait_for_reports); 0: it never waits
        # (workers on machines of their own).
        "PHOTO_YIELD": "30s",
        # Originals kept for forms that may come back: per client (one full form:
        # 3 photos of 20 MiB, and some) and in all; the oldest go first.
        "PHOTO_KEPT_BYTES_PER_CLIENT": 64 * 1024 * 1024,
        "PHOTO_KEPT_BYTES": 256 * 1024 * 1024,
        "KEEP_ORIGINALS": False,
        "SUBMIT_DB_RETRIES": "0.2s 0.5s 1s",
        "SUBMIT_RATE_LIMIT": "20 per hour",
        # Reports that say someone is in danger, per address, over the above.
        "SUBMIT_DANGER_RATE_LIMIT": "20 per hour",
        "RATELIMIT_STORAGE_URI": "",
        "TRUSTED_PROXIES": 0,
        "METRICS_TOKEN": "",
        "LOG_FORMAT": "text",
        "TWILIO_ACCOUNT_SID": "",
        "TWILIO_AUTH_TOKEN": "",
        "TWILIO_FROM": "",
        "TWILIO_MESSAGING_SERVICE_SID": "",
        "TWILIO_API_BASE_URL": "",
        "SMS_SIGN_NAME": "",
        "SMS_TEMPLATES": "",
        "SMS_CALLBACK_TOKEN": "",
        "ALIYUN_ACCESS_KEY_ID": "",
        "ALIYUN_ACCESS_KEY_SECRET": "",
        "ALIYUN_SMS_ENDPOINT": "",
        "TENCENT_SECRET_ID": "",
        "TENCENT_SECRET_KEY": "",
        "TENCENT_SMS_APP_ID": "",
        "TENCENT_SMS_ENDPOINT": "",
        "PERSONAL_DATA_DAYS": 180,
    }


TWILIO_KEYS = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "TWILIO_MESSAGING_SERVICE_SID",
    "TWILIO_API_BASE_URL",
)


def apply_twilio_environment(config: dict, environ: dict) -> None:
    """Takes Twilio's own variables (TWILIO_ACCOUNT_SID …) where REPAIRDESK_TWILIO_*
    left a setting empty."""
    for key in TWILIO_KEYS:
        if not config.get(key) and environ.get(key):
            config[key] = environ[key]


def finalize(config: dict) -> None:
    """Derives Flask and extension settings from RepairDesk's own keys."""
    config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(config["DATABASE_URL"])
    config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["DATABASE_URL"])
    )
    for key in (
        "SLA_TRIAGE",
        "SLA_URGENT_CONTACT",
        "SLA_URGENT_ON_SITE",
        "SLA_GENERAL_ON_SITE",
        "SLA_LIFT_ENTRAPMENT_ON_SITE",
        "SLA_LIFT_ENTRAPMENT_CONTACT",
        "SLA_SUPERVISOR_GRACE",
        "SLA_HOTLINE_REMINDER",
        "SLA_FOLLOWUP",
        "SLA_FOLLOWUP_REMINDER",
        "JOB_LINK_TTL",
        "JOB_LINK_MAX_AGE",
        "PHOTO_LINK_TTL",
        "OFFICER_IDLE_TIMEOUT",
        "LOGIN_LOCKOUT",
        "LOGIN_LOCKOUT_MAX",
        "LOGIN_FAILURE_MEMORY",
        "FOLLOW_UP_AFTER",
        "AUTO_CLOSE_AFTER",
        "SCHEDULER_INTERVAL",
        "STORM_WINDOW",
        "PHOTO_YIELD",
    ):
        config[key] = parse_duration(config[key])
    backup = config.get("SLA_BACKUP_CONTACT")
    config["SLA_BACKUP_CONTACT"] = parse_duration(backup) if backup else None
    # The largest valid post (every photo at its limit) and a margin for the text:
    # Werkzeug refuses anything longer before reading it.
    config["MAX_CONTENT_LENGTH"] = (
        int(config["PHOTO_MAX_BYTES"]) * int(config["PHOTOS_PER_TICKET"]) + 1024 * 1024
    )
    if isinstance(config["KEEP_ORIGINALS"], str):
        config["KEEP_ORIGINALS"] = config["KEEP_ORIGINALS"].lower() in (
            "1",
            "true",
            "yes",
            "on",
        )
    config["PUBLIC_URL"] = config["PUBLIC_URL"].rstrip("/")
    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = config["PUBLIC_URL"].startswith("https://")
    config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    config.setdefault("BABEL_DEFAULT_LOCALE", "zh_CN")
    config.setdefault("BABEL_DEFAULT_TIMEZONE", config["DEFAULT_TIMEZONE"])


def normalize_database_url(url: str) -> str:
    """Returns the URL with the psycopg 3 driver named for plain postgresql URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(url: str) -> dict:
    """Returns engine options: SQLite waits for locks instead of failing at once."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    if url.startswith(("postgres://", "postgresql")):
        # JIT compilation costs more than it saves on these short queries (the
        # sweep's spent 0.7 s of 0.78 s compiling). Options given in the URL (a
        # search_path, say) are kept: connect_args would otherwise replace them.
        given = make_url(normalize_database_url(url)).query.get("options", "")
        options = f"{given} -c jit=off".strip()
        return {"pool_pre_ping": True, "connect_args": {"options": options}}
    return {"pool_pre_ping": True}

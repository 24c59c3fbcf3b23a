"""Security headers with a per-request CSP nonce, CSRF protection, rate limits,
officer sessions, login lockout, signed photo links and the checks of input at the
edge (safe redirects, NUL bytes, bounded integers and dates)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
import time
import unicodedata
from datetime import date
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage, storage_from_string
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from repair import ratelimit

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

#: PostgreSQL's integer columns; a larger number in a URL can name no row.
INT_MAX = 2**31 - 1
#: Dates anyone may ask statistics or filters for; beyond them, local-to-UTC
#: conversions overflow and no ticket exists anyway.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2199, 12, 31)
#: Pages that show a resident's report, a job or the board: never kept in a cache.
_PRIVATE_PREFIXES = ("/board", "/j/")
_PRIVATE_TRACKING = re.compile(r"^/t/[^/]+/(received|confirm|not-fixed|rate)$")
log = logging.getLogger(__name__)
_LOGIN_FAILURES = "repairdesk.login_failures"


def csp_nonce() -> str:
    """Returns this request's nonce for inline <script> and <style> elements."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def init_deployment(app: Flask) -> None:
    """Counts limits in the shared Redis, and trusts REPAIRDESK_TRUSTED_PROXIES
    proxies' X-Forwarded-For/-Proto/-Host, so limits see the resident's address."""
    ratelimit.configure(app)
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )


# -- redirects ---------------------------------------------------------------


def safe_next(target: str | None, default: str) -> str:
    """Returns ``target`` if it is a path on this site, else ``default``.

    Browsers drop tabs, newlines and other control characters inside a URL and
    read a backslash as a slash, so `/\\t/evil.example/` means `//evil.example/`:
    the target is judged after removing them, and only a single-slash path with no
    scheme and no host is accepted.
    """
    if not target:
        return default
    cleaned = "".join(
        ch
        for ch in target
        if not (ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"))
    )
    if (
        not cleaned.startswith("/")
        or cleaned.startswith("//")
        or "\\" in cleaned
        or len(cleaned) > 2000
    ):
        return default
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        return default
    return cleaned


# -- bounded values ----------------------------------------------------------


def bounded_int(value, low: int = 0, high: int = INT_MAX) -> int | None:
    """Returns ``value`` as an int if it is plain ASCII digits within [low, high].

    None for anything else ("abc", "²", "1e9", a number past the database's
    integer columns), so a query string can never reach the database as an error.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value or "").strip()
        if not re.fullmatch(r"-?[0-9]{1,12}", text):
            return None
        number = int(text)
    return number if low <= number <= high else None


def bounded_day(value) -> date | None:
    """Returns an ISO date (YYYY-MM-DD) between 2000 and 2199, else None."""
    text = str(value or "").strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if EARLIEST_DAY <= day <= LATEST_DAY else None


def has_nul(value: str | None) -> bool:
    """Returns whether text holds a character no database column can store."""
    return bool(value) and "\x00" in value


#: Characters nobody sees that change what others see: control characters (but
#: tab and line breaks; NUL is refused, below), zero-width spaces and marks, and
#: the bidirectional overrides and isolates that turn text around ("spoofing" a
#: contractor's SMS or the board). The zero-width joiners stay: emoji need them.
_INVISIBLE = re.compile(
    "[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
#: The fields people type text into (not passwords, not hidden tokens).
_TYPED_FIELDS = frozenset({"StringField", "TextAreaField", "TelField", "SearchField"})


def without_invisible(text: str) -> str:
    """Returns text without the invisible characters that change how it shows."""
    return _INVISIBLE.sub("", text)


class SafeForm(FlaskForm):
    """A form whose text fields refuse NUL characters with a form error and drop
    invisible control and direction characters (_INVISIBLE) silently.

    PostgreSQL cannot store NUL; the form is shown again with what was typed.
    """

    def validate(self, extra_validators=None) -> bool:
        for field in self:
            if field.type in _TYPED_FIELDS and isinstance(field.data, str):
                # A browser sends each line break as CRLF; it is one character
                # to the writer, to the page's counter and to every length limit.
                field.data = without_invisible(field.data).replace("\r\n", "\n")
        valid = super().validate(extra_validators)
        from flask_babel import gettext

        for field in self:
            data = field.data
            if isinstance(data, str) and has_nul(data):
                field.errors = [
                    *field.errors,
                    gettext(
                        "An invisible character that cannot be saved was taken "
                        "out: please check the text and send again."
                    ),
                ]
                field.data = data.replace("\x00", "")
                valid = False
        return valid


#: Query parameters with one meaning on every page: a number or a date that is
#: well formed but out of bounds is refused here, before any view converts it.
BOUNDED_QUERY = {
    "community": "int",
    "building": "int",
    "contractor": "int",
    "entrance": "int",
    "page": "int",
    "from": "day",
    "to": "day",
}


def _out_of_bounds(name: str, value: str) -> bool:
    kind = BOUNDED_QUERY.get(name)
    text = value.strip()
    if kind == "int" and re.fullmatch(r"[+-]?[0-9]+", text):
        return bounded_int(text.lstrip("+"), -INT_MAX, INT_MAX) is None
    if kind == "day" and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            date.fromisoformat(text)
        except ValueError:
            return False  # not a date at all: the page says so itself
        return bounded_day(text) is None
    return False


def _reject_unstorable_input():
    """Refuses a NUL byte in the path (404), the query (400) or a form field (400).

    Forms that check it themselves (SafeForm) get their form error instead: their
    views are marked by ``checks_own_input``.
    """
    if has_nul(request.path):
        abort(404)
    for name, value in request.args.items(multi=True):
        if has_nul(name) or has_nul(value) or _out_of_bounds(name, value):
            abort(400)
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "checks_own_input", False) or request.method in ("GET", "HEAD"):
        return None
    if any(has_nul(k) or has_nul(v) for k, v in request.form.items(multi=True)):
        return render_template("error.html", code=400, reason="characters"), 400
    return None


def checks_own_input(view):
    """Marks a view whose forms report NUL characters as form errors (SafeForm)."""
    view.checks_own_input = True
    return view


# -- login lockout -----------------------------------------------------------


class _Failures:
    """The shared store of failed logins; this process's memory while it is away."""

    def __getattr__(self, method: str):
        shared, fallback = current_app.extensions[_LOGIN_FAILURES]

        def call(*args):
            try:
                return getattr(shared, method)(*args)
            except Exception:  # the limits library wraps each backend's errors
                log.warning("login failure store unavailable; counting in memory")
                return getattr(fallback, method)(*args)

        return call


def _failures() -> _Failures:
    return _Failures()


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"login-failures/{digest}"


def login_locked_for(username: str) -> int:
    """Returns how many seconds the account stays locked (0: not locked)."""
    storage = _failures()
    if storage.get(_account_key(username) + "/lock") <= 0:
        return 0
    return max(
        1, math.ceil(storage.get_expiry(_account_key(username) + "/lock") - time.time())
    )


def record_login_failure(username: str) -> None:
    """Counts a failed login; from the Nth on, the account locks, twice as long
    each time (up to LOGIN_LOCKOUT_MAX)."""
    config = current_app.config
    storage = _failures()
    key = _account_key(username)
    failures = storage.incr(key, config["LOGIN_FAILURE_MEMORY"].total_seconds())
    over = failures - int(config["LOGIN_LOCKOUT_AFTER"])
    if over < 0:
        return
    seconds = min(
        config["LOGIN_LOCKOUT"].total_seconds() * 2 ** min(over, 20),
        config["LOGIN_LOCKOUT_MAX"].total_seconds(),
    )
    storage.clear(key + "/lock")
    storage.incr(key + "/lock", seconds)


def clear_login_failures(username: str) -> None:
    """Forgets an account's failures after a successful login."""
    storage = _failures()
    storage.clear(_account_key(username))
    storage.clear(_account_key(username) + "/lock")


# -- photo links -------------------------------------------------------------


def _photo_signature(sha256: str, variant: str, expires: int) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    message = f"photo:{sha256}:{variant}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def photo_url(photo, variant: str = "thumb") -> str:
    """Returns a signed, expiring link to a photo, for pages whose viewer may see it.

    The expiry is rounded up to a whole hour, so a page shows the same link for an
    hour and browsers can keep the file meanwhile.
    """
    from flask import url_for

    ttl = current_app.config["PHOTO_LINK_TTL"].total_seconds()
    expires = int(math.ceil((time.time() + ttl) / 3600) * 3600)
    return url_for(
        "web.photo",
        sha256=photo.sha256,
        variant=variant,
        e=expires,
        s=_photo_signature(photo.sha256, variant, expires),
    )


def photo_link_is_valid(sha256: str, variant: str, expires, signature) -> bool:
    """Returns whether a photo link was signed by us and has not expired."""
    when = bounded_int(expires, 0, 2**40)
    if when is None or not signature or when < time.time():
        return False
    return hmac.compare_digest(str(signature), _photo_signature(sha256, variant, when))


# -- wiring ------------------------------------------------------------------


def _cache_control(response):
    path = request.path
    private = (
        path.startswith(_PRIVATE_PREFIXES)
        or (path.startswith("/t/") and "k" in request.args)
        or bool(_PRIVATE_TRACKING.match(path))
    )
    if private:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Pragma"] = "no-cache"
        response.vary.add("Cookie")


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` in every route, but no larger than the database's integer ids:
    a path with 99999999999999999999 is a 404, not an OverflowError (a 500) in the
    database driver (found by the outside tester, on a dozen admin routes)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        kwargs.setdefault("max", INT_MAX)
        super().__init__(url_map, *args, **kwargs)


def init_app(app: Flask) -> None:
    """Adds CSRF, rate limiting, input checks and the security headers."""
    # Before any blueprint adds its routes: they take the converter then.
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    csrf.init_app(app)
    init_deployment(app)
    limiter.init_app(app)
    app.extensions[_LOGIN_FAILURES] = (
        storage_from_string(
            app.config["RATELIMIT_STORAGE_URI"],
            **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
        ),
        MemoryStorage(),
    )
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.jinja_env.globals["photo_url"] = photo_url
    app.before_request(_reject_unstorable_input)

    @app.after_request
    def add_security_headers(response):
        nonce = csp_nonce()
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; "
            f"style-src 'self' 'nonce-{nonce}'; script-src 'self' 'nonce-{nonce}'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "geolocation=(), microphone=()"
        )
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        _cache_control(response)
        return response

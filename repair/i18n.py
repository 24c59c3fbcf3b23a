"""Languages: Chinese first, English second; chosen by toggle, cookie or browser."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, request
from flask_babel import Babel, get_locale

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
COOKIE = "lang"
TRANSLATIONS_DIR = str(Path(__file__).with_name("translations"))

babel = Babel()


def select_locale() -> str:
    """Returns ?lang=, else the lang cookie, else a page's preferred locale, else the
    best Accept-Language match."""
    for candidate in (
        request.args.get(COOKIE),
        request.cookies.get(COOKIE),
        g.get("preferred_locale"),  # e.g. a contractor's own language
    ):
        if candidate in LOCALES:
            return candidate
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=None)
    return "en" if best == "en" else DEFAULT_LOCALE


def current_locale() -> str:
    """Returns the request's locale as one of LOCALES ('zh_CN' or 'en')."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else DEFAULT_LOCALE


def localised_name(name: str | None, name_en: str | None, locale: str) -> str:
    """Returns the English name in an English locale when there is one, else the
    Chinese name (or an empty string when there is neither)."""
    if locale.startswith("en"):
        return name_en or name or ""
    return name or ""


def zone_name(community=None) -> str:
    """Returns a community's time zone, or the default one (DEFAULT_TIMEZONE)."""
    own = community.timezone if community is not None else None
    return own or current_app.config["DEFAULT_TIMEZONE"]


def local_time(value: datetime | None, tz: str | None = None) -> datetime | None:
    """Converts an aware UTC datetime to the page's community's (or the default)
    time zone."""
    if value is None:
        return None
    zone = tz or getattr(g, "timezone", None) or zone_name()
    return value.astimezone(ZoneInfo(zone))


def format_local(value: datetime | None, tz: str | None = None) -> str:
    """Formats a UTC datetime as local 'YYYY-MM-DD HH:MM' for display."""
    local = local_time(value, tz)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def init_app(app: Flask) -> None:
    """Binds Flask-Babel and remembers an explicit ?lang= choice in a cookie."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.globals["current_locale"] = current_locale
    app.jinja_env.globals["LOCALES"] = LOCALES

    @app.after_request
    def remember_language(response):
        chosen = request.args.get(COOKIE)
        if chosen in LOCALES and request.cookies.get(COOKIE) != chosen:
            response.set_cookie(
                COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True
            )
        return response

"""Languages: Chinese first, English second; chosen by toggle, cookie or browser."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import support
from flask import Flask, current_app, g, request
from flask_babel import Babel, get_locale
from wtforms.i18n import messages_path

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


@cache
def _wtforms_catalog(locale: str) -> support.NullTranslations:
    return support.Translations.load(messages_path(), [locale], domain="wtforms")


class WtformsMessages:
    """WTForms' own messages ("This field is required.") in the request's language,
    each language's catalog read once per process: Flask-WTF read it from disk
    again in every request that built a form (1.5 ms of each report)."""

    def ugettext(self, string: str) -> str:
        return _wtforms_catalog(str(get_locale())).ugettext(string)

    def ungettext(self, singular: str, plural: str, n: int) -> str:
        return _wtforms_catalog(str(get_locale())).ungettext(singular, plural, n)


_WTFORMS_MESSAGES = WtformsMessages()


def init_app(app: Flask) -> None:
    """Binds Flask-Babel and remembers an explicit ?lang= choice in a cookie."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    babel.init_app(app, locale_selector=select_locale)

    @app.before_request
    def share_wtforms_messages() -> None:
        # Where Flask-WTF looks for them first (flask_wtf.i18n._get_translations).
        request.wtforms_translations = _WTFORMS_MESSAGES

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

"""Security headers with a per-request CSP nonce, CSRF protection, rate limits."""

from __future__ import annotations

import secrets

from flask import Flask, g
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from repair import ratelimit

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


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


def init_app(app: Flask) -> None:
    """Adds CSRF, rate limiting and the security headers to every response."""
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault(
        "SESSION_COOKIE_SECURE", app.config["PUBLIC_URL"].startswith("https://")
    )
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    csrf.init_app(app)
    init_deployment(app)
    limiter.init_app(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

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
        return response

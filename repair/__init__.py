"""RepairDesk: the app factory, which wires repair, dispatch and printables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from repair import config as settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"


def create_app(test_config: dict | None = None) -> Flask:
    """Creates the WSGI app: defaults, then REPAIRDESK_* variables, then test_config."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("REPAIRDESK_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(TEMPLATES_DIR),
        static_folder=None,
    )
    app.config.from_mapping(settings.default_settings(app.instance_path))
    app.config.from_prefixed_env("REPAIRDESK")
    settings.apply_twilio_environment(app.config, os.environ)
    if test_config:
        app.config.from_mapping(test_config)
    settings.finalize(app.config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path))

    from repair import (
        broker,
        db,
        i18n,
        lifecycle,
        logs,
        metrics,
        money,
        privacy,
        security,
        web,
    )
    from repair.photos import store
    from repair.resident import views as resident

    db.init_app(app)
    broker.init_app(app)
    store.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    lifecycle.init_app(app)
    privacy.init_app(app)
    money.init_app(app)
    web.init_app(app)
    resident.init_app(app)
    metrics.init_app(app)
    logs.init_app(app)

    import dispatch
    import printables

    dispatch.init_app(app)
    printables.init_app(app)

    from repair import cli

    cli.init_app(app)
    return app


def _instance_secret(instance: Path) -> str:
    # A per-installation key kept in the instance folder, so sessions survive restarts
    # of `make run` without anyone having to invent a secret.
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()

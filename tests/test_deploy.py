"""The production layout: the gunicorn config loads, and every setting is documented."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from repair.config import default_settings

ROOT = Path(__file__).resolve().parent.parent
#: Settings the code reads that are not Flask's own or derived from others.
_NOT_SETTINGS = {
    "SQLALCHEMY_DATABASE_URI",
    "MAX_CONTENT_LENGTH",
    "SESSION_COOKIE_SECURE",
    # Flask's and Flask-Login's cookie keys, Flask-Limiter's storage options: set
    # from our own settings, not by an operator.
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "REMEMBER_COOKIE_HTTPONLY",
    "REMEMBER_COOKIE_SAMESITE",
    "REMEMBER_COOKIE_SECURE",
    "RATELIMIT_STORAGE_OPTIONS",
}


def _settings_in_code() -> set[str]:
    names = set(default_settings("/nowhere"))
    pattern = re.compile(r"REPAIRDESK_([A-Z][A-Z0-9_]*[A-Z0-9])\b")
    config_key = re.compile(r"config(?:\.get\(|\[)\"([A-Z][A-Z0-9_]+)\"")
    for package in ("repair", "dispatch", "printables"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(pattern.findall(text))
            names.update(config_key.findall(text))
    return {
        name
        for name in names - _NOT_SETTINGS
        if not name.startswith(("TEST_", "BENCH_", "RATELIMIT_ENABLED"))
    }


def test_the_gunicorn_config_loads_and_serves_the_app_factory():
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert config["wsgi_app"] == "repair:create_app()"
    assert config["worker_class"] == "sync"
    assert config["workers"] >= 1
    assert callable(config["child_exit"])


def test_every_setting_is_in_the_env_template_and_the_readme():
    env = (ROOT / "deploy" / "repairdesk.env").read_text(encoding="utf-8")
    listed = set(re.findall(r"^REPAIRDESK_([A-Z0-9_]+)=", env, re.MULTILINE))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = "\n".join(line for line in readme.splitlines() if line.startswith("| `"))
    settings = _settings_in_code()
    assert {"REDIS_SENTINELS", "METRICS_TOKEN", "TRUSTED_PROXIES"} <= settings
    assert sorted(settings - listed) == []
    missing = [
        name
        for name in settings
        if f"_{name}`" not in table and f"`{name}`" not in table
    ]
    assert sorted(missing) == []


def test_nginx_takes_whole_uploads_up_to_the_apps_limit():
    site = (ROOT / "deploy" / "nginx" / "repairdesk.conf").read_text(encoding="utf-8")
    defaults = default_settings("/nowhere")
    app_limit = (
        defaults["PHOTO_MAX_BYTES"] * (defaults["PHOTOS_PER_TICKET"] + 2) + 1024 * 1024
    )
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", site).group(1))
    assert megabytes * 1024 * 1024 == app_limit
    assert "proxy_request_buffering on;" in site
    assert "X-Forwarded-For" in site


def test_each_sms_template_has_its_own_provider_template_id():
    """Two message kinds sharing a template id would send one kind's words for the
    other (officer_due_soon had the resident_photo_request id in both files)."""
    import tomllib

    for name in ("aliyun.toml", "tencent.toml"):
        path = Path(__file__).parents[1] / "deploy" / "sms" / name
        templates = tomllib.loads(path.read_text(encoding="utf-8"))["templates"]
        ids = [entry["template_id"] for entry in templates.values()]
        assert len(ids) == len(set(ids)), (name, sorted(ids))

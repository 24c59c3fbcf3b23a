"""The `repairdesk` console command: a Flask CLI group over the app factory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from repair.db import db
from repair.places import all_entrances, landing_url


def _create_app() -> Flask:
    from repair import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False)
def main() -> None:
    """RepairDesk: QR-code repair reporting and dispatch."""


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Create the demo community, categories and officer (safe to run again)."""
    from repair.seed import seed_demo

    info = seed_demo(current_app.instance_path)
    click.echo(f"Demo community: {info['community'].name} ({info['community'].slug})")


@click.command("entrances")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def entrances_command(as_json: bool) -> None:
    """List every entrance with its label and QR landing URL."""
    for entrance in all_entrances():
        row = {
            "community": entrance.community.slug,
            "building": entrance.building.name if entrance.building else None,
            "kind": entrance.kind.value,
            "entrance": entrance.name,
            "label": entrance.label(),
            "code": entrance.code,
            "url": landing_url(entrance),
        }
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            click.echo(f"{row['label']}\t{row['url']}")


_WELCOME_LINES = "repairdesk.welcome_lines"


def add_welcome_line(
    app: Flask, title: str, url_for_base: Callable[[str], str]
) -> None:
    """Adds a line `repairdesk run` prints for newcomers: a title and its URL."""
    app.extensions.setdefault(_WELCOME_LINES, {})[title] = url_for_base


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", 5000)), type=int)
@click.option("--no-worker", is_flag=True, help="Serve the web app only.")
@with_appcontext
def run_command(host: str, port: int, no_worker: bool) -> None:
    """Serve the web app with a worker and scheduler (local use)."""
    from werkzeug.serving import run_simple

    from repair.broker import get_redis, stop_embedded_redis

    app = current_app._get_current_object()
    get_redis(app)  # starts the embedded server when REPAIRDESK_REDIS_URL is unset
    os.environ["REPAIRDESK_REDIS_URL"] = app.config["REDIS_URL"]
    if not os.environ.get("REPAIRDESK_PUBLIC_URL"):
        # Links in the SMS outbox and on stickers lead to where this serves.
        app.config["PUBLIC_URL"] = f"http://{host}:{port}"
        os.environ["REPAIRDESK_PUBLIC_URL"] = app.config["PUBLIC_URL"]
    children: list[_KeptRunning] = []
    if not no_worker and "worker" in main.list_commands(click.get_current_context()):
        children.append(
            _KeptRunning(
                "worker",
                [sys.executable, "-m", "repair.cli", "worker", "--with-scheduler"],
            )
        )
    _print_welcome(app, host, port)
    # This command's own session must not hold a transaction while serving: on
    # SQLite that would lock out every request and job.
    db.session.remove()
    # A service manager or `kill` sends SIGTERM: stop everything, as Ctrl-C does.
    # Ctrl-C reaches the worker too: it must not be started again meanwhile.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        for child in children:
            child.stop()
        stop_embedded_redis()


class _KeptRunning:
    """A process `repairdesk run` starts and keeps running: when it dies (killed,
    out of memory) the console says so and it is started again, at most
    RESTARTS_PER_MINUTE times a minute; stop() ends it (Ctrl-C, SIGTERM).

    Without it a worker that died left the demo without deadlines, SMS or photos,
    and nothing said so. (Deployments run their workers under systemd, which
    restarts them: deploy/systemd.)"""

    RESTARTS_PER_MINUTE = 5
    #: How often the process is looked at, seconds.
    LOOK_EVERY = 0.5

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self.command = command
        self.process = subprocess.Popen(command)
        self._restarts: list[float] = []
        self._stopping = threading.Event()
        self._watch = threading.Thread(
            target=self._keep_running, name=f"keep-{name}-running", daemon=True
        )
        self._watch.start()

    def _keep_running(self) -> None:
        while not self._stopping.wait(self.LOOK_EVERY):
            code = self.process.poll()
            if code is None or _STOPPING.is_set():
                continue
            now = time.monotonic()
            self._restarts = [t for t in self._restarts if now - t < 60]
            if len(self._restarts) >= self.RESTARTS_PER_MINUTE:
                click.secho(
                    f"The {self.name} stopped (exit code {code}) "
                    f"{len(self._restarts) + 1} times within a minute; not started "
                    "again. Stop with Ctrl-C and look at the messages above.",
                    fg="red",
                    err=True,
                )
                return
            self._restarts.append(now)
            click.secho(
                f"The {self.name} stopped (exit code {code}); starting it again.",
                fg="yellow",
                err=True,
            )
            self.process = subprocess.Popen(self.command)

    def stop(self) -> None:
        _STOPPING.set()
        self._stopping.set()
        self._watch.join(timeout=5)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


#: Set once `repairdesk run` is asked to stop: nothing it started is started again.
_STOPPING = threading.Event()


def _interrupt(_signum, _frame) -> None:
    _STOPPING.set()
    raise KeyboardInterrupt


def _print_welcome(app: Flask, host: str, port: int) -> None:
    from repair.seed import DEMO_LOGINS_FILE, DEMO_USERS, read_demo_logins

    base = f"http://{host}:{port}"
    click.secho(f"\nRepairDesk is running at {base}", bold=True)
    click.echo("Resident report pages (one per entrance sticker):")
    for entrance in all_entrances():
        click.echo(f"  {entrance.label()}: {landing_url(entrance)}")
    click.echo(f"Officer's board: {base}/board")
    logins = read_demo_logins(Path(app.instance_path) / DEMO_LOGINS_FILE)
    for username, _name, role, _phone in DEMO_USERS:
        if logins.get(username):
            click.echo(f"  demo {role.value} login: {username} / {logins[username]}")
    for title, url_for_base in app.extensions.get(_WELCOME_LINES, {}).items():
        click.echo(f"{title}: {url_for_base(base)}")
    click.echo("Press Ctrl-C to stop.\n")


def init_app(app: Flask) -> None:
    """Adds repair's commands to the app's CLI group."""
    for command in (seed_demo_command, entrances_command, run_command):
        app.cli.add_command(command)


if __name__ == "__main__":
    main()

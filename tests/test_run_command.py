"""`repairdesk run` as a newcomer meets it: what it prints, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

REPAIRDESK = [sys.executable, "-m", "repair.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        text = " ".join(process.info["cmdline"] or []) + (process.info["cwd"] or "")
        if str(folder) in text:
            found.append(process)
    return found


def _healthz(port: int) -> int:
    """Returns /healthz's status once the server listens (it binds after printing)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return urllib.request.urlopen(
                f"http://127.0.0.1:{port}/healthz", timeout=10
            ).status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _run(env: dict, port: int) -> subprocess.Popen:
    """Starts `repairdesk run` in its own process group, its console piped."""
    return subprocess.Popen(
        REPAIRDESK + ["run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _all_gone(instance: Path) -> None:
    """Asserts that nothing `repairdesk run` started is left (10 s to go)."""
    deadline = time.monotonic() + 10
    while _processes_using(instance) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_using(instance) == []


@pytest.fixture
def newcomer_env(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REPAIRDESK_")
    }
    env.update(
        REPAIRDESK_INSTANCE_PATH=str(tmp_path / "instance"),
        REPAIRDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'repairdesk.db'}",
    )
    for step in (["db", "upgrade"], ["seed-demo"]):
        subprocess.run(REPAIRDESK + step, env=env, check=True, capture_output=True)
    return env


def test_run_prints_the_board_and_every_demo_login_and_ctrl_c_stops_everything(
    newcomer_env, tmp_path
):
    port = _free_port()
    server = _run(newcomer_env, port)
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Ctrl-C" in line:
            break
    text = "".join(lines)
    assert f"http://127.0.0.1:{port}/board" in text
    for role, user in (("officer", "officer"), ("supervisor", "supervisor")):
        assert f"demo {role} login: {user} / " in text
    assert "demo admin login: admin / " in text
    assert f"http://127.0.0.1:{port}/outbox" in text
    # the report pages (and every link the app prints) use the port it serves on
    assert f"http://127.0.0.1:{port}/q/" in text
    instance = tmp_path / "instance"
    assert any(
        "redis-server" in " ".join(p.cmdline()) for p in _processes_using(instance)
    ), "the embedded Redis was not started"

    assert _healthz(port) == 200  # the web app now holds Redis connections too

    # Ctrl-C in a terminal interrupts the whole process group, worker included.
    os.killpg(server.pid, signal.SIGINT)
    server.wait(timeout=30)
    _all_gone(instance)


def test_sigterm_stops_everything_run_started(newcomer_env, tmp_path):
    port = _free_port()
    server = _run(newcomer_env, port)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "Ctrl-C" not in server.stdout.readline():
        pass
    assert _healthz(port) == 200
    instance = tmp_path / "instance"
    server.terminate()  # SIGTERM to run alone, as `kill` or systemd would
    server.wait(timeout=30)
    _all_gone(instance)


def test_demo_logins_work_on_the_board(app, client, settings):
    from repair.seed import DEMO_LOGINS_FILE, read_demo_logins, seed_demo

    with app.app_context():
        seed_demo(app.instance_path)
    logins = read_demo_logins(Path(app.instance_path) / DEMO_LOGINS_FILE)
    assert set(logins) == {"officer", "supervisor", "admin"}
    page = client.get("/board/login")
    assert page.status_code == 200
    client.application.config["WTF_CSRF_ENABLED"] = False
    answer = client.post(
        "/board/login",
        data={"username": "admin", "password": logins["admin"]},
    )
    assert answer.status_code == 302
    assert client.get("/board/admin").status_code == 200


def test_a_worker_that_dies_is_started_again_and_the_console_says_so(
    newcomer_env, tmp_path
):
    # Killed (out of memory, kill -9), the worker left `repairdesk run` serving
    # reports that got no SMS, no deadlines and no photos, and nothing said so.
    port = _free_port()
    server = _run(newcomer_env, port)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Ctrl-C" not in server.stdout.readline():
            pass
        assert _healthz(port) == 200

        def workers() -> list[psutil.Process]:
            return [
                child
                for child in psutil.Process(server.pid).children()
                if "worker" in child.cmdline()
            ]

        said: list[str] = []  # read aside: a console with nothing to say blocks
        threading.Thread(target=lambda: said.extend(server.stdout), daemon=True).start()
        [first] = workers()
        first.kill()
        deadline = time.monotonic() + 30
        while not any("starting" in line for line in said):
            assert time.monotonic() < deadline, "".join(said)
            time.sleep(0.1)
        assert "The worker stopped (exit code -9); starting it again.\n" in said
        deadline = time.monotonic() + 10
        while not workers() and time.monotonic() < deadline:
            time.sleep(0.1)
        [second] = workers()
        assert second.pid != first.pid and second.is_running()
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    instance = tmp_path / "instance"
    _all_gone(instance)
    assert not psutil.pid_exists(second.pid) or psutil.Process(second.pid).status() == (
        psutil.STATUS_ZOMBIE
    )

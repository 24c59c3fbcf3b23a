"""The dispatch side from the command line and the health page."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from dispatch.messaging.backends import sms_segments
from dispatch.messaging.notify import KINDS, Recipient, render_sms
from dispatch.models import OutboxMessage
from repair.db import db
from repair.models import Ticket


def test_classify_command_reads_and_writes_json_lines(app):
    lines = "\n".join(
        json.dumps(item, ensure_ascii=False)
        for item in (
            {"text": "电梯困人了"},
            {"text": "路灯不亮", "category": "lighting"},
            {"text": "no gas smell, just checking the meter box lamp"},
        )
    )
    result = app.test_cli_runner().invoke(args=["classify"], input=lines)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["urgency"] for o in out] == ["urgent", "general", "general"]
    assert out[0]["category"] == "lift" and out[0]["reasons"]


def test_worker_command_works_off_the_queue(app, resident, fake_twilio):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        assert db.session.scalar(sa.select(OutboxMessage.status)) == "pending"
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.status == "sent" and message.provider_id.startswith("console-")
    assert number


def test_outbox_page_shows_messages_with_their_links(app, resident, client):
    number = resident.report(description="楼道灯不亮")
    page = client.get("/outbox").get_data(as_text=True)
    assert number in page
    assert 'href="http://repair.test/j/' in page


def test_healthz_counts_workers(client):
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["workers"] == {"status": "missing", "count": 0}
    assert health.json["status"] == "degraded"


def test_healthz_counts_the_workers_that_ticked_just_now(app, client):
    # An outside tester killed the only worker: rq keeps a worker registered for
    # seven minutes after its last heartbeat, and /healthz said "workers: ok"
    # for eight minutes while no SMS went out. A worker counts while its watch
    # ticks (every second).
    from freezegun import freeze_time
    from rq import Worker

    from dispatch.worker.queues import get_queues
    from dispatch.worker.ticker import ALIVE_WINDOW_SECONDS, SweepTicker

    with app.app_context():
        queues = get_queues(app)
        killed = Worker(queues, connection=queues[0].connection)
        killed.register_birth()  # registered with rq, then killed: no more ticks
        assert client.get("/healthz").json["workers"] == {
            "status": "missing",
            "count": 0,
        }
        with freeze_time() as clock:
            SweepTicker(app).tick()
            health = client.get("/healthz").json
            assert health["workers"] == {"status": "ok", "count": 1}
            assert health["status"] == "ok"
            clock.tick(ALIVE_WINDOW_SECONDS + 1)  # that worker died too
            assert client.get("/healthz").json["workers"]["status"] == "missing"


def test_every_sms_fits_two_segments_even_with_long_names(app, demo, monkeypatch):
    from repair.lifecycle import Actor, Report, open_ticket
    from repair.models import ActorType, Channel, Entrance

    # Assignment 123456 does not exist: its code is as long as any.
    monkeypatch.setattr(
        "dispatch.contractor.tokens.job_code", lambda assignment_id: "K7M2Q9XD"
    )
    with app.test_request_context():
        entrance = db.session.scalar(sa.select(Entrance).limit(1))
        entrance.building.community.name = "阳光花园二期东区"
        ticket = open_ticket(
            Report(
                entrance=entrance,
                spot="地下车库B2层通往3号楼电梯厅的消防通道门口",
                description="长" * 400,
            ),
            Actor(ActorType.RESIDENT, Channel.QR),
        )
        db.session.flush()
        ticket = db.session.get(Ticket, ticket.id)
        context = {
            "assignment_id": 123456,
            "clock_label": "到场",
            "who": "安居维保服务有限公司",
            "phone": "+8613800000001",
            "supervisor": True,
        }
        templates = Path(app.template_folder) / "sms"
        for file in sorted(templates.glob("*/*.txt")):
            for role in KINDS[file.stem][0]:
                recipient = Recipient(role, 1, "+8613800000001", file.parent.name)
                body = render_sms(file.stem, recipient, ticket, context)
                assert sms_segments(body) <= 2, (file, len(body), body)
        db.session.rollback()


def test_twilio_settings_come_from_twilios_own_variables(settings, monkeypatch):
    from repair import create_app

    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-from-env")
    monkeypatch.setenv("REPAIRDESK_TWILIO_AUTH_TOKEN", "token-with-prefix")
    app = create_app({k: v for k, v in settings.items() if not k.startswith("TWILIO")})
    assert app.config["TWILIO_ACCOUNT_SID"] == "AC" + "1" * 32
    assert app.config["TWILIO_AUTH_TOKEN"] == "token-with-prefix"


def test_postgresql_options_in_the_url_are_kept():
    from repair.config import engine_options

    options = engine_options("postgresql://u@h/db?options=-csearch_path%3Dbench")
    assert options["connect_args"]["options"] == "-csearch_path=bench -c jit=off"
    assert engine_options("postgresql://u@h/db")["connect_args"] == {
        "options": "-c jit=off"
    }


def test_one_worker_schedules_at_a_time_and_hands_over_when_it_stops(app):
    from dispatch.sla.sweep import sweep
    from dispatch.worker.queues import get_queues
    from dispatch.worker.scheduler import RETRY_SECONDS, SchedulerThread

    with app.app_context():
        queues = get_queues(app)
    first, second = SchedulerThread(queues, 0.05), SchedulerThread(queues, 0.05)
    first.step(0.0)
    second.step(0.0)
    assert first.holds_locks and not second.holds_locks

    queue = queues[-1]
    job = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), sweep)
    assert job.id in queue.scheduled_job_registry.get_job_ids()
    second.step(1.0)  # not its turn: nothing moves
    assert job.id not in queue.get_job_ids()
    first.step(1.0)
    assert job.id in queue.get_job_ids()
    assert job.id not in queue.scheduled_job_registry.get_job_ids()

    first.stop()  # a worker shutting down hands its locks back ...
    second.step(1.0 + RETRY_SECONDS)  # ... and the next attempt of another takes them
    assert second.holds_locks and not first.holds_locks

    later = queue.enqueue_at(datetime.now(UTC) - timedelta(seconds=1), sweep)
    second.start()  # the thread itself, polling every 50 ms
    try:
        deadline = time.monotonic() + 10
        while later.id not in queue.get_job_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.stop()
    assert later.id in queue.get_job_ids()
    assert not second.is_alive() and not second.holds_locks

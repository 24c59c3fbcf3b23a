"""A Redis that hangs must cost a request one short wait, never one per call."""

from __future__ import annotations

import socket
import threading

import pytest
import sqlalchemy as sa

from repair.db import db
from tests.test_resident_bad_input import _any_code, _app_with


class FrozenRedis:
    """Accepts connections and reads commands but never answers (a SIGSTOPped Redis)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def frozen_redis():
    server = FrozenRedis()
    yield server
    server.close()


def test_a_frozen_redis_costs_a_submission_one_attempt_and_loses_nothing(
    settings, frozen_redis
):
    from repair.models import Ticket
    from tests.actions import ResidentActions

    app = _app_with(
        settings,
        REDIS_URL=f"redis://127.0.0.1:{frozen_redis.port}/0",
        REDIS_TIMEOUT="0.2s",
    )
    resident = ResidentActions(app.test_client(), _any_code(app))
    number = resident.report()
    assert number
    # Queueing the SMS, the escalation rungs and the rest each talk to Redis after
    # the commit; before, each waited for its own timeout, with retries.
    assert frozen_redis.connections == 1
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.next_due_at is not None


def test_the_next_request_tries_redis_again(settings, frozen_redis):
    from tests.actions import ResidentActions

    app = _app_with(
        settings,
        REDIS_URL=f"redis://127.0.0.1:{frozen_redis.port}/0",
        REDIS_TIMEOUT="0.2s",
    )
    resident = ResidentActions(app.test_client(), _any_code(app))
    assert resident.report()
    assert resident.report(description="楼道灯不亮")
    assert frozen_redis.connections == 2

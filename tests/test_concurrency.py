"""Twenty residents submitting at the same moment get twenty distinct numbers."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy as sa

from repair.db import db
from repair.models import Ticket
from tests.actions import hidden_fields
from tests.factories import jpeg_bytes

PARALLEL = 20


def _submit(base_url: str, code: str, index: int) -> str:
    with requests.Session() as browser:
        form = hidden_fields(browser.get(f"{base_url}/q/{code}", timeout=30).text)
        response = browser.post(
            f"{base_url}/q/{code}",
            data={**form, "description": f"第{index}号：楼道灯不亮", "spot": "1楼"},
            files={
                "photos": (f"p{index}.jpg", jpeg_bytes(size=(640, 480)), "image/jpeg")
            },
            timeout=60,
        )
        response.raise_for_status()
        return re.search(r'id="ticket-number">([^<]+)<', response.text).group(1)


def test_parallel_submissions_get_distinct_numbers(app, live_server, entrance_code):
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        numbers = list(
            pool.map(lambda i: _submit(live_server, entrance_code, i), range(PARALLEL))
        )
    assert len(set(numbers)) == PARALLEL
    sequences = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert sequences == list(range(1, PARALLEL + 1))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Ticket.id))) == PARALLEL

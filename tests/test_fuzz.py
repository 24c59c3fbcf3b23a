"""Generated values in every form and query parameter never make a 5xx.

The pages are crawled as their users see them (a resident, a contractor, an
administrator at the board, statistics and admin pages); each form found is posted
with values from hypothesis: NUL bytes, huge and odd numbers, impossible dates,
wildcards, long and unusual text. The suite runs on PostgreSQL in CI too, whose
errors SQLite hides.
"""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from urllib.parse import urlsplit

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.contractor.tokens import job_token
from dispatch.models import Assignment
from repair.db import db
from repair.models import Ticket
from tests.actions import OfficerActions
from tests.conftest import ADMIN_PASSWORD

NASTY = [
    "\x00",
    "a\x00b",
    "99999999999999999999999",
    "-99999999999999999999999",
    "2147483648",
    "-1",
    "0",
    "²",
    "١٢",
    "1e309",
    "NaN",
    "abc",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "%",
    "_",
    "%_%",
    "/%0a/x",
    "/\t/evil.example/",
    "//evil.example",
    "x" * 5000,
    "f" * 65,
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "\u202e\ufeff",
    " ",
    "",
]
VALUES = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.dates().map(lambda day: day.isoformat()),
)
#: The board's and statistics' query parameters, and the others no form shows.
QUERIES = [
    ("/board", ["q", "community", "building", "category", "contractor", "status"]),
    ("/board/cards", ["q", "community", "building", "contractor", "status"]),
    ("/board/stats", ["community", "from", "to", "lang"]),
    ("/board/stats.csv", ["community", "from", "to"]),
    ("/board/login", ["next"]),
]


class _Forms(HTMLParser):
    """Collects each form's action, method and fields (name → value shown)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: set[str] = set()
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href", "").startswith("/board/admin"):
            self.links.add(attrs["href"].split("#")[0])
        if tag == "form":
            self.forms.append(
                {
                    "action": attrs.get("action") or "",
                    "method": (attrs.get("method") or "get").lower(),
                    "fields": {},
                }
            )
        if not self.forms or not attrs.get("name"):
            return
        fields = self.forms[-1]["fields"]
        name = attrs["name"]
        if tag == "input" and attrs.get("type") != "file":
            if attrs.get("type") in ("radio", "checkbox") and name in fields:
                return
            fields[name] = attrs.get("value") or ""
        elif tag == "textarea":
            fields[name] = ""
        elif tag == "select":
            self._select = name
            fields[name] = ""
        if (
            tag == "option"
            and self._select
            and not self.forms[-1]["fields"].get(self._select)
        ):
            self.forms[-1]["fields"][self._select] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def _forms(client, path: str) -> tuple[list[tuple[str, str, dict]], set[str]]:
    parser = _Forms()
    parser.feed(client.get(path).get_data(as_text=True))
    found = []
    for form in parser.forms:
        action = form["action"] or urlsplit(path).path
        if "/logout" in action:
            continue
        found.append((form["method"], action, form["fields"]))
    return found, parser.links


def _catalogue(app, client, admin) -> list[tuple[object, str, str, dict]]:
    """Returns (client, method, path, fields) for every form and query found."""
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).order_by(Ticket.id))
        assignment = db.session.scalar(sa.select(Assignment).order_by(Assignment.id))
        number, key = ticket.number, ticket.resident_key
        job = f"/j/{job_token(assignment.id)}"
        code = ticket.entrance.code
    entries = []
    for page in (
        f"/q/{code}",
        f"/t/{number}?k={key}",
        f"/t/{number}/follow",
        job,
    ):
        forms, _ = _forms(client, page)
        entries += [(client, *form) for form in forms]
    entries.append((client, "get", f"/t/{number}", {"k": key}))
    admin_pages = {"/board/admin"}
    forms, links = _forms(admin, "/board/admin")
    admin_pages |= {link for link in links if "/stickers" not in link}
    for page in ["/board", f"/board/t/{number}", "/board/new", "/board/stats"] + sorted(
        admin_pages
    )[:30]:
        forms, _ = _forms(admin, page)
        entries += [(admin, *form) for form in forms]
    entries += [
        (admin, "get", path, dict.fromkeys(names, "")) for path, names in QUERIES
    ]
    # Forms that could lock the administrator out go last.
    return sorted(entries, key=lambda entry: "/users" in entry[2])


def test_generated_input_never_makes_a_server_error(app, client, resident, admin_user):
    resident.report()
    admin = app.test_client()
    assert OfficerActions(admin).log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    entries = _catalogue(app, client, admin)
    assert len(entries) >= 20, [entry[2] for entry in entries]
    failures = []

    for who, method, path, fields in entries:
        # Failures are collected: every form gets its turn.
        with contextlib.suppress(AssertionError):
            _fuzzer(who, method, path, fields, failures)()
    assert sorted({(method, path) for method, path, *_ in failures}) == [], failures[:3]


def _fuzzer(who, method: str, path: str, fields: dict, failures: list):
    """Returns a hypothesis test that sends one form or query generated values."""

    @settings(
        max_examples=3,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def send_generated(data):
        values = dict(fields)
        for name in fields:
            if name == "csrf_token" and data.draw(st.integers(0, 9)) > 0:
                continue  # mostly keep the token, to reach the form's own checks
            if data.draw(st.booleans()):
                values[name] = data.draw(VALUES)
        if method == "get":
            response = who.get(path, query_string=values)
        else:
            response = who.post(path, data=values)
        if response.status_code >= 500:
            failures.append((method, path, values, response.status_code))
        assert response.status_code < 500, (method, path, values)

    return send_generated

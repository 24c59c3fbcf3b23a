"""The Alembic migrations on a database of their own: data kept, both directions."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy.engine import make_url

from repair import create_app
from repair.config import normalize_database_url
from repair.db import db
from tests.conftest import _settings

BEFORE_NEXT_DUE = "6faa5fa29926"


@pytest.fixture
def scratch_url(tmp_path):
    """Yields an empty database: a SQLite file, or a schema of the test PostgreSQL."""
    url = os.environ.get("REPAIRDESK_TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalize_database_url(url))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def scratch_app(scratch_url, tmp_path):
    app = create_app(_settings(scratch_url, "", tmp_path))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _table(connection, name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), autoload_with=connection)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes from raw columns (UTC by our convention).
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _tickets(*columns: str) -> dict:
    """Returns the ticket rows by id, with these columns."""
    with db.engine.connect() as connection:
        ticket = _table(connection, "ticket")
        query = sa.select(ticket.c.id, *(ticket.c[name] for name in columns))
        return {row.id: row for row in connection.execute(query)}


def _add_ticket(connection, ticket_id: int, created: datetime, **fields) -> None:
    ticket = _table(connection, "ticket")
    values = {
        "id": ticket_id,
        "number": f"MG-{ticket_id:04d}",
        "community_id": 1,
        "spot": "1楼",
        "description": "电梯困人",
        "channel": "qr",
        "resident_key": f"key-{ticket_id}",
        "created_at": created,
        "updated_at": created,
        "triage_due_at": created + timedelta(hours=1),
        "contact_due_at": created + timedelta(minutes=30),
        "on_site_due_at": created + timedelta(hours=2),
        "urgency": "urgent",
    }
    values.update(fields)
    connection.execute(ticket.insert().values(**values))


def test_next_due_and_escalation_are_filled_in_for_existing_tickets(scratch_app):
    created = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    upgrade(revision=BEFORE_NEXT_DUE)
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        _add_ticket(connection, 1, created, status="dispatched")
        # Confirmed and accepted: only the on-site clock is left.
        _add_ticket(
            connection,
            2,
            created,
            status="accepted",
            urgency_confirmed_at=created + timedelta(minutes=10),
            accepted_at=created + timedelta(minutes=20),
        )
        _add_ticket(connection, 3, created, status="closed")
        connection.execute(
            _table(connection, "ticket_event")
            .insert()
            .values(
                ticket_id=1,
                at=created + timedelta(minutes=20),
                action="escalated",
                actor_type="system",
                channel="system",
            )
        )

    upgrade()

    rows = _tickets("next_due_at", "escalated_at")
    assert _aware(rows[1].next_due_at) == created + timedelta(minutes=30)
    assert _aware(rows[1].escalated_at) == created + timedelta(minutes=20)
    assert _aware(rows[2].next_due_at) == created + timedelta(hours=2)
    assert rows[2].escalated_at is None
    assert rows[3].next_due_at is None


def test_every_migration_goes_down_and_up_again(scratch_app):
    upgrade()
    downgrade(revision="base")
    with db.engine.connect() as connection:
        assert set(sa.inspect(connection).get_table_names()) <= {"alembic_version"}
    upgrade()
    with db.engine.connect() as connection:
        columns = {c["name"] for c in sa.inspect(connection).get_columns("ticket")}
    assert {"next_due_at", "escalated_at", "hotline_due_at"} <= columns


def test_placed_hotline_orders_deadlines_become_their_tickets_clocks(scratch_app):
    created = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    upgrade(revision="c3a9d5e1f7b2")
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        # Worked on, the hotline's deadline before ours; and one done already.
        _add_ticket(
            connection,
            1,
            created,
            status="dispatched",
            channel="hotline",
            next_due_at=created + timedelta(minutes=30),
        )
        _add_ticket(
            connection,
            2,
            created,
            status="completed",
            channel="hotline",
            completed_at=created + timedelta(minutes=50),
        )
        connection.execute(
            _table(connection, "hotline_system")
            .insert()
            .values(
                id=1,
                name="city",
                secret="s",
                reply_url="http://127.0.0.1/r",
                is_active=True,
                created_at=created,
            )
        )
        orders = _table(connection, "hotline_work_order")
        for ticket_id in (1, 2):
            connection.execute(
                orders.insert().values(
                    system_id=1,
                    number=f"GD{ticket_id}",
                    content="灯不亮",
                    place="1栋",
                    due_at=created + timedelta(minutes=20),
                    payload={},
                    ticket_id=ticket_id,
                    received_at=created,
                )
            )

    upgrade()

    with db.engine.connect() as connection:
        ticket = _table(connection, "ticket")
        rows = {
            row.id: row
            for row in connection.execute(
                sa.select(ticket.c.id, ticket.c.hotline_due_at, ticket.c.next_due_at)
            )
        }
    assert _aware(rows[1].hotline_due_at) == created + timedelta(minutes=20)
    assert _aware(rows[1].next_due_at) == created + timedelta(minutes=20)
    assert _aware(rows[2].hotline_due_at) == created + timedelta(minutes=20)
    assert rows[2].next_due_at is None


BEFORE_CONTRACTOR_COMMUNITY = "e4b7c2a9d1f3"


def _add_community(connection, community_id: int, slug: str, created) -> None:
    connection.execute(
        _table(connection, "community")
        .insert()
        .values(
            id=community_id,
            slug=slug,
            name=f"{slug}小区",
            ticket_prefix=slug.upper()[:2],
            timezone="Asia/Shanghai",
            created_at=created,
        )
    )


def _add_contractors(connection, *ids: int) -> None:
    connection.execute(
        _table(connection, "contractor").insert(),
        [
            {"id": i, "name": f"维保{i}", "phone": f"+86138000001{i:02d}"}
            | {"language": "zh_CN", "is_active": True}
            for i in ids
        ],
    )


def _served(connection) -> set[tuple[int, int]]:
    table = _table(connection, "contractor_community")
    return {
        (row.contractor_id, row.community_id)
        for row in connection.execute(sa.select(table))
    }


def test_existing_contractors_serve_the_communities_that_use_them(scratch_app):
    created = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    upgrade(revision=BEFORE_CONTRACTOR_COMMUNITY)
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        _add_community(connection, 2, "lc", created)
        # 1: routed in community 1; 2: community 1's backup and community 2's
        # primary; 3: held a ticket of community 2; 4: the ticket's contractor
        # (no assignment row); 5: used nowhere.
        _add_contractors(connection, 1, 2, 3, 4, 5)
        connection.execute(
            _table(connection, "route").insert(),
            [
                {
                    "community_id": 1,
                    "primary_contractor_id": 1,
                    "backup_contractor_id": 2,
                },
                {
                    "community_id": 2,
                    "primary_contractor_id": 2,
                    "backup_contractor_id": None,
                },
            ],
        )
        _add_ticket(
            connection, 1, created, community_id=2, contractor_id=4, status="dispatched"
        )
        connection.execute(
            _table(connection, "assignment")
            .insert()
            .values(ticket_id=1, contractor_id=3, role="manual", created_at=created)
        )

    upgrade()

    with db.engine.connect() as connection:
        assert _served(connection) == {(1, 1), (2, 1), (2, 2), (3, 2), (4, 2)}


def test_with_a_single_community_every_contractor_serves_it(scratch_app):
    created = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    upgrade(revision=BEFORE_CONTRACTOR_COMMUNITY)
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        _add_contractors(connection, 1, 2)
        connection.execute(
            _table(connection, "route")
            .insert()
            .values(community_id=1, primary_contractor_id=1)
        )
    upgrade()
    with db.engine.connect() as connection:
        assert _served(connection) == {(1, 1), (2, 1)}
    downgrade(revision=BEFORE_CONTRACTOR_COMMUNITY)
    with db.engine.connect() as connection:
        assert "contractor_community" not in sa.inspect(connection).get_table_names()


BEFORE_COMMON_AREAS = "e5b8c2d4a7f1"


def _place_rows(connection) -> dict[int, tuple]:
    entrance = _table(connection, "entrance")
    return {
        row.id: row
        for row in connection.execute(sa.select(entrance).order_by(entrance.c.id))
    }


def _no_dangling_references(connection) -> None:
    if connection.dialect.name == "sqlite":
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        referred = {
            fk["referred_table"]
            for fk in sa.inspect(connection).get_foreign_keys("ticket")
        }
        assert "entrance" in referred


def test_common_areas_keep_every_entrance_code_and_ticket_both_ways(scratch_app):
    created = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    upgrade(revision=BEFORE_COMMON_AREAS)
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        _add_community(connection, 2, "lc", created)
        _add_contractors(connection, 1)
        buildings = _table(connection, "building")
        connection.execute(
            buildings.insert(),
            [
                {"id": 1, "community_id": 1, "name": "1栋", "sort_order": 1},
                {"id": 2, "community_id": 2, "name": "9栋", "sort_order": 1},
            ],
        )
        connection.execute(
            _table(connection, "entrance").insert(),
            [
                {
                    "id": 5,
                    "building_id": 1,
                    "name": "1单元",
                    "name_en": None,
                    "sort_order": 1,
                    "code": "aaaa2222",
                },
                {
                    "id": 6,
                    "building_id": 2,
                    "name": "2单元",
                    "name_en": "Entrance 2",
                    "sort_order": 2,
                    "code": "bbbb3333",
                },
            ],
        )
        connection.execute(
            _table(connection, "entrance_code").insert(),
            [
                {"code": "aaaa2222", "entrance_id": 5, "created_at": created},
                {"code": "bbbb3333", "entrance_id": 6, "created_at": created},
            ],
        )
        connection.execute(
            _table(connection, "lift")
            .insert()
            .values(id=1, entrance_id=5, name="1号梯", sort_order=1)
        )
        _add_ticket(
            connection, 1, created, status="dispatched", entrance_id=5, lift_id=1
        )
        _add_ticket(
            connection,
            2,
            created,
            status="closed",
            community_id=2,
            entrance_id=6,
            number="LC-0002",
        )

    upgrade()

    with db.engine.begin() as connection:
        rows = _place_rows(connection)
        assert {
            i: (r.community_id, r.building_id, r.kind, r.code) for i, r in rows.items()
        } == {
            5: (1, 1, "entrance", "aaaa2222"),
            6: (2, 2, "entrance", "bbbb3333"),
        }
        assert rows[6].name_en == "Entrance 2" and rows[6].retired_at is None
        # A common area now fits: no building, the community its own.
        connection.execute(
            _table(connection, "entrance")
            .insert()
            .values(
                id=7,
                community_id=1,
                kind="common_area",
                building_id=None,
                name="北门",
                sort_order=1,
                code="cccc4444",
            )
        )
        connection.execute(
            _table(connection, "entrance_code")
            .insert()
            .values(code="cccc4444", entrance_id=7, created_at=created)
        )
        _add_ticket(connection, 3, created, status="new", entrance_id=7)
        connection.execute(
            _table(connection, "route")
            .insert()
            .values(community_id=1, entrance_id=7, primary_contractor_id=1)
        )
        columns = {c["name"]: c for c in sa.inspect(connection).get_columns("entrance")}
        assert columns["building_id"]["nullable"]
        assert not columns["community_id"]["nullable"]
    with db.engine.connect() as connection:
        ticket = _table(connection, "ticket")
        assert dict(
            connection.execute(sa.select(ticket.c.id, ticket.c.entrance_id)).all()
        ) == {1: 5, 2: 6, 3: 7}
        _no_dangling_references(connection)

    downgrade(revision=BEFORE_COMMON_AREAS)

    with db.engine.connect() as connection:
        rows = _place_rows(connection)
        assert set(rows) == {5, 6, 7}
        assert rows[5].building_id == 1 and rows[6].building_id == 2
        building = _table(connection, "building")
        common = connection.execute(
            sa.select(building).where(building.c.id == rows[7].building_id)
        ).one()
        # The common area kept its code and ticket, in a building of its own.
        assert (common.community_id, common.name) == (1, "公共区域")
        assert rows[7].code == "cccc4444"
        route = _table(connection, "route")
        assert connection.execute(sa.select(route.c.building_id)).scalar() == common.id
        assert "entrance_id" not in {c.name for c in route.columns}
        assert "community_id" not in {
            c["name"] for c in sa.inspect(connection).get_columns("entrance")
        }
        ticket = _table(connection, "ticket")
        assert len(connection.execute(sa.select(ticket.c.id)).all()) == 3
        _no_dangling_references(connection)

    upgrade()
    with db.engine.connect() as connection:
        rows = _place_rows(connection)
        assert rows[7].community_id == 1 and rows[7].kind == "entrance"


def test_open_tickets_get_their_danger_in_words_and_lose_a_reminders_escalation(
    scratch_app,
):
    created = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    upgrade(revision="c7d3e9a1b5f2")
    reminded = created + timedelta(minutes=20)
    with db.engine.begin() as connection:
        _add_community(connection, 1, "mg", created)
        connection.execute(
            _table(connection, "category")
            .insert()
            .values(id=1, slug="lift", name="电梯", name_en="Lift", sort_order=1)
        )
        trapped = {"urgency": "urgent", "reasons": ["urgent:lift:困人"]}
        # 1: words say someone is trapped, and only the nudge was taken
        _add_ticket(
            connection,
            1,
            created,
            status="dispatched",
            category_id=1,
            classification=trapped,
            escalated_at=reminded,
        )
        # 2: declared by the resident: nothing found, it is declared
        _add_ticket(
            connection,
            2,
            created,
            status="dispatched",
            category_id=1,
            declared_danger="trapped",
            classification=trapped,
        )
        # 3: closed: left as it was
        _add_ticket(
            connection,
            3,
            created,
            status="closed",
            category_id=1,
            classification=trapped,
            escalated_at=reminded,
        )
        events = _table(connection, "ticket_event")
        for ticket_id in (1, 3):
            connection.execute(
                events.insert().values(
                    ticket_id=ticket_id,
                    at=reminded,
                    action="escalated",
                    actor_type="system",
                    channel="system",
                    data={"clock": "contact", "rung": "remind"},
                )
            )

    upgrade()

    rows = _tickets("found_danger", "escalated_at")
    assert rows[1].found_danger == "trapped" and rows[1].escalated_at is None
    assert rows[2].found_danger is None
    assert rows[3].found_danger is None and _aware(rows[3].escalated_at) == reminded
    downgrade(revision="c7d3e9a1b5f2")

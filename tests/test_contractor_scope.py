"""Contractors belong to the communities they serve: no officer, route or automatic
dispatch sends one a ticket of another community (issue 19, item 8)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from dispatch.assignment.routes import backup_for
from dispatch.models import Assignment, OutboxMessage, Route
from dispatch.sla import escalation
from repair import lifecycle
from repair.db import db
from repair.models import Category, Community, Contractor, TicketStatus
from tests.actions import OfficerActions, ResidentActions, make_other_community
from tests.conftest import ADMIN_PASSWORD
from tests.factories import find_ticket

PRIMARY, BACKUP = "+8613800000001", "+8613800000002"
THEIRS = "+8613900000077"  # 绿城物业维修部: serves 绿城小区 only
BOTH = "+8613900000088"  # 两地电梯: serves both communities

NOT_SERVING_ZH = "未发送：该维保单位不服务于此工单所在社区。请从列表中选择。"


@dataclass(frozen=True)
class Neighbour:
    """The other community, its officer, entrance code and its own contractor."""

    community_id: int
    code: str
    username: str
    password: str
    contractor_id: int


@pytest.fixture
def neighbour(app, demo) -> Neighbour:
    """绿城小区 with its own officer and its own contractor (not ours)."""
    other = make_other_community(app)
    with app.app_context():
        contractor = Contractor(
            name="绿城物业维修部",
            phone=THEIRS,
            communities=[db.session.get(Community, other.id)],
        )
        db.session.add(contractor)
        db.session.commit()
        return Neighbour(
            other.id, other.code, other.username, other.password, contractor.id
        )


def _messages_to(phone: str) -> int:
    db.session.expire_all()
    return db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.to_phone == phone
        )
    )


def _assign_options(page: str) -> dict[str, str]:
    """Returns the assign form's choices: id → label."""
    select = page.split('id="assign-contractor"')[1].split("</select>")[0]
    return dict(re.findall(r'<option[^>]*value="(\d+)"[^>]*>([^<]*)</option>', select))


def test_officer_cannot_send_another_communitys_contractor_a_job(
    app, client, officer, resident, neighbour
):
    """The attack: an officer of 阳光花园 picks 绿城's contractor from the form's
    list, or names it in a crafted POST. Neither is offered, neither is sent."""
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        before = find_ticket(number)
        contractor_id = before.contractor_id
        assert before.contractor.phone == PRIMARY

    page = client.get(f"/board/t/{number}").get_data(as_text=True)
    offered = _assign_options(page)
    assert "绿城物业维修部" not in page
    assert str(neighbour.contractor_id) not in offered
    assert "顺达物业工程部（备岗）" in offered.values()

    response = officer.act(number, "assign", contractor=str(neighbour.contractor_id))
    assert response.status_code == 303
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert NOT_SERVING_ZH in shown
    assert "绿城物业维修部" not in shown  # no hint of the other community's name
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor_id == contractor_id
        assert ticket.status is TicketStatus.DISPATCHED
        assert (
            db.session.scalar(
                sa.select(sa.func.count(Assignment.id)).where(
                    Assignment.contractor_id == neighbour.contractor_id
                )
            )
            == 0
        )
        assert _messages_to(THEIRS) == 0

    # The refusal is translated.
    path = f"/board/t/{number}"
    response = client.post(
        f"{path}/assign?lang=en",
        data={"csrf_token": officer.csrf(path), "contractor": neighbour.contractor_id},
    )
    english = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "that contractor does not serve this ticket's community" in english


def test_a_contractor_serving_both_communities_is_offered_in_both(
    app, client, officer, resident, neighbour
):
    with app.app_context():
        shared = Contractor(
            name="两地电梯",
            phone=BOTH,
            communities=list(db.session.scalars(sa.select(Community))),
        )
        db.session.add(shared)
        db.session.commit()
        shared_id = shared.id
    ours = resident.report(description="楼道灯不亮")
    theirs = ResidentActions(client, neighbour.code).report(description="路灯不亮")

    page = client.get(f"/board/t/{ours}").get_data(as_text=True)
    assert "两地电梯" in page and "绿城物业维修部" not in page
    assert officer.act(ours, "assign", contractor=str(shared_id)).status_code == 303
    with app.app_context():
        assert find_ticket(ours).contractor_id == shared_id
        assert _messages_to(BOTH) == 1

    other = OfficerActions(app.test_client())
    assert other.log_in(neighbour.username, neighbour.password).status_code == 302
    page = other.client.get(f"/board/t/{theirs}").get_data(as_text=True)
    options = _assign_options(page)
    assert set(options.values()) == {"两地电梯", "绿城物业维修部"}
    assert not any(name in page for name in ("安居维保服务有限公司", "顺达物业工程部"))
    # 绿城's officer cannot send our contractors a job either.
    with app.app_context():
        ours_primary = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == PRIMARY)
        )
        texts_to_ours = _messages_to(PRIMARY)
    other.act(theirs, "assign", contractor=str(ours_primary))
    assert other.act(theirs, "assign", contractor=str(shared_id)).status_code == 303
    with app.app_context():
        assert find_ticket(theirs).contractor_id == shared_id
        assert _messages_to(PRIMARY) == texts_to_ours


def test_the_board_filter_lists_only_the_officers_contractors(
    app, client, officer, neighbour, admin_user
):
    page = client.get("/board").get_data(as_text=True)
    contractors = page.split('id="f-contractor"')[1].split("</select>")[0]
    assert "安居维保服务有限公司" in contractors
    assert "绿城物业维修部" not in contractors

    admin = OfficerActions(app.test_client())
    assert admin.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    page = admin.client.get("/board").get_data(as_text=True)
    contractors = page.split('id="f-contractor"')[1].split("</select>")[0]
    assert "安居维保服务有限公司" in contractors and "绿城物业维修部" in contractors


def test_automatic_dispatch_never_leaves_the_community(app, client, demo, neighbour):
    """A route that names another community's contractor (left from before, or
    written behind the administration's back) sends them nothing: no offer at
    submission, no hand-over to them as the backup, none after a reopen."""
    with app.app_context():
        route = db.session.scalar(sa.select(Route).where(Route.community_id == demo))
        ours = route.primary_contractor_id
        route.primary_contractor_id = neighbour.contractor_id
        db.session.commit()
    resident = ResidentActions(client, _entrance_code(app, demo))
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.status is TicketStatus.NEW  # left for the officer
        assert ticket.contractor_id is None
        assert _messages_to(THEIRS) == 0

        # The other way round: ours first, theirs as the backup.
        route = db.session.scalar(sa.select(Route).where(Route.community_id == demo))
        route.primary_contractor_id = ours
        route.backup_contractor_id = neighbour.contractor_id
        db.session.commit()
    number = resident.report(description="3楼楼道灯也不亮")
    with app.app_context():
        ticket = find_ticket(number)
        assert ticket.contractor_id == ours
        assert backup_for(ticket) is None
        assert escalation.dispatch_backup(ticket, ticket.created_at, "declined") is None
        db.session.commit()
        assert find_ticket(number).contractor_id == ours
        assert _messages_to(THEIRS) == 0


def test_a_reopened_ticket_goes_back_only_to_a_contractor_of_its_community(
    app, client, demo, neighbour
):
    resident = ResidentActions(client, _entrance_code(app, demo))
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        ticket = find_ticket(number)
        primary = ticket.contractor
        backup = db.session.scalar(
            sa.select(Contractor).where(Contractor.phone == BACKUP)
        )
        # The primary stops serving 阳光花园 after the job was done.
        primary.communities = [db.session.get(Community, neighbour.community_id)]
        db.session.commit()
        ticket = find_ticket(number)
        assignment = escalation.on_reopened(ticket, None, ticket.created_at)
        db.session.commit()
        assert assignment.contractor_id == backup.id
        assert find_ticket(number).contractor_id == backup.id


def test_dispatch_itself_refuses_a_contractor_outside_the_community(
    app, resident, neighbour
):
    number = resident.report(description="楼道灯不亮")
    with app.app_context():
        ticket = find_ticket(number)
        theirs = db.session.get(Contractor, neighbour.contractor_id)
        with pytest.raises(escalation.NotServing):
            escalation.dispatch_to(
                ticket, theirs, lifecycle.Actor.system(), role="manual"
            )
        db.session.rollback()
        assert find_ticket(number).contractor.phone == PRIMARY
        assert _messages_to(THEIRS) == 0


def _entrance_code(app, community_id: int) -> str:
    from repair.models import Building, Entrance

    with app.app_context():
        return db.session.scalar(
            sa.select(Entrance.code)
            .join(Building)
            .where(Building.community_id == community_id)
            .order_by(Entrance.id)
            .limit(1)
        )


def test_demo_contractors_serve_the_demo_community(app, demo):
    with app.app_context():
        contractors = db.session.scalars(sa.select(Contractor)).all()
        assert len(contractors) == 2
        assert all(c.serves(demo) for c in contractors)
        route = db.session.scalar(sa.select(Route).where(Route.community_id == demo))
        assert route.primary.serves(demo) and route.backup.serves(demo)


# --- Administration -----------------------------------------------------------------


@pytest.fixture
def admin(app, admin_user) -> OfficerActions:
    actions = OfficerActions(app.test_client())
    assert actions.log_in(admin_user, ADMIN_PASSWORD).status_code == 302
    return actions


def _post(actions: OfficerActions, path: str, **fields):
    data = {"csrf_token": actions.csrf(path.split("?")[0]), **fields}
    return actions.client.post(path, data=data)


def test_a_route_names_only_contractors_of_its_community(app, admin, demo, neighbour):
    path = f"/board/admin/communities/{demo}/routes"
    page = admin.client.get(path).get_data(as_text=True)
    primary = page.split('id="route-primary"')[1].split("</select>")[0]
    assert "安居维保服务有限公司" in primary and "绿城物业维修部" not in primary
    with app.app_context():
        lighting = db.session.scalar(
            sa.select(Category.id).where(Category.slug == "lighting")
        )
        ours = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == PRIMARY)
        )
    for fields in (
        {"primary": neighbour.contractor_id, "backup": ""},
        {"primary": ours, "backup": neighbour.contractor_id},
    ):
        response = _post(
            admin, f"{path}?lang=en", category=lighting, building="", **fields
        )
        assert response.status_code == 422
        assert "This contractor does not serve this community" in response.get_data(
            as_text=True
        )
    for nonsense in ("abc", "99999999999999999999", "\x00"):
        response = _post(admin, path, category=lighting, building="", primary=nonsense)
        assert response.status_code in (400, 422), nonsense
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count(Route.id)).where(
                    sa.or_(
                        Route.primary_contractor_id == neighbour.contractor_id,
                        Route.backup_contractor_id == neighbour.contractor_id,
                    )
                )
            )
            == 0
        )
    # Once it serves 阳光花园 too, it may be routed there.
    response = _post(
        admin,
        f"/board/admin/contractors/{neighbour.contractor_id}",
        name="绿城物业维修部",
        phone=THEIRS,
        language="zh_CN",
        is_active="y",
        communities=[str(demo), str(neighbour.community_id)],
    )
    assert response.status_code == 303
    response = _post(
        admin, path, category=lighting, building="", primary=neighbour.contractor_id
    )
    assert response.status_code == 303


def test_admin_sees_and_sets_the_communities_a_contractor_serves(
    app, admin, demo, neighbour
):
    listing = admin.client.get("/board/admin/contractors?lang=en").get_data(
        as_text=True
    )
    theirs = listing.split(f'data-contractor="{neighbour.contractor_id}"')[1]
    served = theirs.split('class="served"')[1].split("</td>")[0]
    assert "绿城小区" in served and "Sunshine Garden" not in served

    with app.app_context():
        ours = db.session.scalar(
            sa.select(Contractor.id).where(Contractor.phone == PRIMARY)
        )
    edit = f"/board/admin/contractors/{ours}"
    page = admin.client.get(edit).get_data(as_text=True)
    checks = page.split('id="communities"')[1].split("</div>")[0]
    assert re.search(rf'checked[^>]*value="{demo}"|value="{demo}"[^>]*checked', checks)
    assert "绿城小区" in checks

    # Its routes in 阳光花园 still send it work: the community cannot be taken away.
    fields = dict(name="安居维保服务有限公司", phone=PRIMARY, language="zh_CN")
    response = _post(
        admin,
        f"{edit}?lang=en",
        is_active="y",
        communities=str(neighbour.community_id),
        **fields,
    )
    assert response.status_code == 422
    assert "Routes of Sunshine Garden still send work to this contractor" in (
        response.get_data(as_text=True)
    )
    response = _post(
        admin,
        edit,
        is_active="y",
        communities=[str(demo), str(neighbour.community_id)],
        **fields,
    )
    assert response.status_code == 303
    with app.app_context():
        contractor = db.session.get(Contractor, ours)
        assert {c.id for c in contractor.communities} == {
            demo,
            neighbour.community_id,
        }

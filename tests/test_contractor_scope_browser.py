"""An officer assigns a ticket in headless Chromium at desktop size: only their
community's contractors are offered, and a doctored choice is refused."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dispatch.models import OutboxMessage
from repair.db import db
from repair.models import Community, Contractor
from tests.actions import make_other_community, officer_at_desk

pytestmark = pytest.mark.browser


def test_officer_assigns_only_to_contractors_of_the_tickets_community(
    app, browser, live_server, officer, resident, screenshot
):
    other = make_other_community(app)
    with app.app_context():
        theirs = Contractor(
            name="绿城物业维修部",
            phone="+8613900000077",
            communities=[db.session.get(Community, other.id)],
        )
        shared = Contractor(
            name="两地电梯维保",
            phone="+8613900000088",
            communities=list(db.session.scalars(sa.select(Community))),
        )
        db.session.add_all([theirs, shared])
        db.session.commit()
        theirs_id, shared_id = theirs.id, shared.id
    number = resident.report(description="楼道灯不亮")

    context, page = officer_at_desk(
        browser, live_server, "/board/login", wait_for="#section-triage"
    )
    page.goto(f"{live_server}/board/t/{number}")

    offered = page.locator("#assign-contractor option").all_inner_texts()
    assert set(offered) == {
        "安居维保服务有限公司（主岗）",
        "顺达物业工程部（备岗）",
        "两地电梯维保",
    }
    page.select_option("#assign-contractor", str(shared_id))
    page.click("#assign")
    page.wait_for_selector(".flash-ok")
    assert "两地电梯维保" in page.locator("#ticket-contractor").inner_text()
    screenshot(page, "1-assigned-to-a-shared-contractor")

    # A doctored list (the option's value changed in the page) is refused.
    page.eval_on_selector(
        "#assign-contractor",
        "(select, id) => { select.options[0].value = id; select.selectedIndex = 0; }",
        str(theirs_id),
    )
    page.click("#assign")
    page.wait_for_selector(".flash-error")
    refusal = page.locator(".flash-error").inner_text()
    assert "该维保单位不服务于此工单所在社区" in refusal
    assert "两地电梯维保" in page.locator("#ticket-contractor").inner_text()
    screenshot(page, "2-another-communitys-contractor-refused")
    context.close()
    with app.app_context():
        assert not db.session.scalar(
            sa.select(OutboxMessage.id).where(
                OutboxMessage.to_phone == "+8613900000077"
            )
        )

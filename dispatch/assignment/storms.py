"""Storms (并单): many reports of one problem held in one ticket's group, merged
into it by the officer (one job, one SMS), split out again when wrongly merged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from dispatch.assignment.routes import may_take, route_for
from dispatch.sla import clock as sla
from dispatch.sla.escalation import dispatch_to, policy_for, trapped_in_lift
from dispatch.triage.classifier import problem_objects
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import (
    WORKING_STATUSES,
    ActorType,
    Building,
    Category,
    Community,
    Entrance,
    Ticket,
    TicketFollower,
    TicketStatus,
    Urgency,
)

#: Categories whose failure is the whole building's (one riser, one supply, one
#: power feed): reports from any of its entrances are one problem. Not lifts: each
#: entrance (单元) has its own, so a lift at another entrance is another lift, and
#: a report naming one of an entrance's lifts joins only that lift's group (a
#: loud advert screen in 1单元's lift had joined 2单元's lift entrapment, and its
#: resident was told neighbours had reported the same problem).
BUILDING_WIDE = frozenset({"water", "electrical"})
#: How long after a report of someone trapped in a lift another report of someone
#: trapped in that lift is the same emergency (the contact deadline's length).
ENTRAPMENT_WINDOW = timedelta(minutes=30)


def window() -> timedelta:
    """Returns how long after a group's latest report a new one still joins it."""
    return current_app.config["STORM_WINDOW"]


def is_building_wide(category: Category | None) -> bool:
    """Returns whether reports of this category are grouped per building."""
    return category is not None and category.slug in BUILDING_WIDE


def is_entrapment(
    ticket: Ticket, urgency: Urgency, category: Category | None, verdict: dict
) -> bool:
    """Returns whether a new report is someone trapped (declared, anywhere; or a
    lift in the classifier's words): it always goes out on its own."""
    return ticket.declared_danger == "trapped" or trapped_in_lift(
        ticket, urgency.value, category, verdict
    )


def entrapment_group(ticket: Ticket, now: datetime) -> Ticket | None:
    """Returns the open report of someone trapped in the same lift that a new one
    of someone trapped there joins, if any: the person inside and a neighbour
    outside, or two people in the car, report one emergency, and one contractor
    is sent to the lift, not two (an outside tester got two unlinked jobs).

    Only where both name the lift (an entrance's lifts are told apart by the
    resident's choice), where the first was reported within ENTRAPMENT_WINDOW and
    nobody is on site yet: someone trapped after that is a new emergency."""
    entrance = ticket.entrance
    if (
        entrance is None
        or ticket.lift_id is None
        or ticket.hotline_due_at is not None
        or window() <= timedelta(0)  # grouping turned off
    ):
        return None
    db.session.execute(  # as find_group: of two at once, the second sees the first
        sa.select(Entrance.id).where(Entrance.id == entrance.id).with_for_update()
    )
    candidates = db.session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.entrance_id == entrance.id,
            Ticket.lift_id == ticket.lift_id,
            Ticket.id != ticket.id,
            Ticket.status.in_(
                (TicketStatus.NEW, TicketStatus.DISPATCHED, TicketStatus.ACCEPTED)
            ),
            Ticket.group_of_id.is_(None),
            Ticket.urgency == Urgency.URGENT,
            Ticket.created_at >= now - ENTRAPMENT_WINDOW,
        )
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    for candidate in candidates:
        if trapped_in_lift(candidate, Urgency.URGENT.value):
            return candidate
    return None


def find_group(
    ticket: Ticket, category: Category | None, now: datetime
) -> Ticket | None:
    """Returns the open ticket whose group a new report of ``category`` joins, if
    any: same entrance (building, for building-wide categories), same category,
    the same lift where both name one, its latest report within the window.

    Locks the place first, so that of two reports at the same moment the second
    waits and then sees the first (no two parents, no lost member). PostgreSQL
    takes the entrance's or building's row lock; SQLite holds the database's write
    lock for the whole transaction already (BEGIN IMMEDIATE)."""
    entrance = ticket.entrance
    if (
        entrance is None
        or category is None
        or ticket.hotline_due_at is not None
        or window() <= timedelta(0)
    ):
        return None
    # A common area has no building: its reports group at the place itself.
    wide = is_building_wide(category) and entrance.building_id is not None
    if wide:
        db.session.execute(
            sa.select(Building.id)
            .where(Building.id == entrance.building_id)
            .with_for_update()
        )
        place = Ticket.entrance_id.in_(
            sa.select(Entrance.id).where(Entrance.building_id == entrance.building_id)
        )
    else:
        db.session.execute(
            sa.select(Entrance.id).where(Entrance.id == entrance.id).with_for_update()
        )
        place = Ticket.entrance_id == entrance.id
    if ticket.lift_id is not None:
        place = sa.and_(
            place, sa.or_(Ticket.lift_id.is_(None), Ticket.lift_id == ticket.lift_id)
        )
    since = now - window()
    member = aliased(Ticket)
    recent = sa.or_(
        Ticket.created_at >= since,
        sa.exists().where(member.group_of_id == Ticket.id, member.created_at >= since),
    )
    candidates = db.session.scalars(
        sa.select(Ticket)
        .where(
            place,
            Ticket.id != ticket.id,
            Ticket.community_id == ticket.community_id,
            Ticket.category_id == category.id,
            Ticket.status.in_(WORKING_STATUSES),
            Ticket.group_of_id.is_(None),
            recent,
        )
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    named = problem_objects(ticket.description, ticket.spot)
    for candidate in candidates:
        if same_problem(named, candidate):
            return candidate
    return None


def same_problem(named: frozenset[str], parent: Ticket) -> bool:
    """Returns whether a report naming these things (problem_objects) is the
    problem of the parent's group: one of its reports names one of them too.

    Place and category alone grouped a burst pipe in the basement (大量漏水
    declared) with a roof leak upstairs, a broken swing with a branch over the
    slide: the contractor went to the roof, and was told one repair would do
    (an outside tester's storm night). A report that names nothing (地下室, and
    a danger declared) still joins: nothing tells it apart."""
    if not named:
        return True
    for report in (parent, *members(parent)):
        named_there = problem_objects(report.description, report.spot)
        if not named_there or any(
            one in other or other in one for one in named for other in named_there
        ):  # 下水管 is a 水管 too (楼下水管破了 reads 楼/下水管)
            return True
    return False


def hold_in_group(ticket: Ticket, parent: Ticket, now: datetime) -> None:
    """Holds the report in the parent's group: its resident follows the parent at
    once (they hear its news before the officer even merges)."""
    lifecycle.join_group(ticket, parent, lifecycle.Actor.system(), now)
    _follow(parent, ticket)


def raise_urgency(parent: Ticket, member: Ticket, now: datetime) -> None:
    """A report of danger joined a general ticket: the ticket becomes urgent, with
    the urgent clocks counted from that report (or kept, where already sooner)."""
    if parent.urgency is Urgency.URGENT:
        return
    due = sla.deadlines(
        Urgency.URGENT.value,
        member.created_at,
        policy_for(parent.community_id),
        timedelta(seconds=parent.paused_seconds or 0.0),
    )
    deadlines = {"triage_due_at": parent.triage_due_at}
    for name in ("contact_due_at", "on_site_due_at"):
        current = getattr(parent, name)
        deadlines[name] = min(d for d in (current, due[name]) if d is not None)
    classification = dict(parent.classification or {})
    # The verdict is the group's now: urgent, for the reasons of the report that
    # made it so (the board does not print "general" beside an urgent header).
    classification["urgency"] = Urgency.URGENT.value
    classification["reasons"] = [
        f"group:{member.number}",
        *(member.classification or {}).get("reasons", []),
    ]
    lifecycle.assess(
        parent,
        Urgency.URGENT,
        lifecycle.Actor.system(),
        now,
        deadlines=deadlines,
        classification=classification,
    )


def raised_by(ticket: Ticket) -> Ticket | None:
    """Returns the report whose joining the group made the ticket urgent (its
    first classifier reason is ``group:<number>``), or None."""
    reasons = (ticket.classification or {}).get("reasons") or []
    if not reasons or not str(reasons[0]).startswith("group:"):
        return None
    number = str(reasons[0]).removeprefix("group:")
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def held(parent: Ticket) -> list[Ticket]:
    """Returns the reports waiting in the parent's group for the officer's merge."""
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.group_of_id == parent.id, Ticket.status == TicketStatus.NEW)
            .order_by(Ticket.id)
        )
    )


def members(parent: Ticket) -> list[Ticket]:
    """Returns every report in the parent's group: held, merged (not split)."""
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(
                sa.or_(
                    Ticket.group_of_id == parent.id,
                    Ticket.duplicate_of_id == parent.id,
                )
            )
            .order_by(Ticket.id)
        )
    )


def merge_group(parent: Ticket, actor: lifecycle.Actor, now: datetime) -> list[Ticket]:
    """Merges every held report into the parent: each becomes its duplicate (no
    job, no SMS of its own), and the parent's timeline records each report's own
    words and photos. Returns the merged reports."""
    lifecycle.lock(parent)
    # A repair done (or closed) before the officer got to the group still takes
    # its reports; a ticket ended without work does not: split them out instead.
    if parent.status in (TicketStatus.REJECTED, TicketStatus.DUPLICATE):
        raise lifecycle.TransitionNotAllowed(parent, "merge")
    merged = []
    for member in held(parent):
        lifecycle.transition(
            member,
            "mark_duplicate",
            actor,
            now,
            data={"original": parent.number, "group": True},
            duplicate_of_id=parent.id,
        )
        lifecycle.record_event(
            parent,
            "merged",
            actor,
            now,
            note=member.description,
            data={
                "member": member.number,
                "spot": member.spot,
                "photos": [photo.id for photo in member.report_photos],
            },
        )
        _follow(parent, member)
        merged.append(member)
    return merged


def repair_done(parent: Ticket | None) -> bool:
    """Returns whether the group's ticket was already repaired (completed or
    closed): a report split out of it now goes out as a new job, which the officer
    must mean (another problem, not the one just repaired)."""
    return parent is not None and parent.status in (
        TicketStatus.COMPLETED,
        TicketStatus.CLOSED,
    )


def split_out(member: Ticket, actor: lifecycle.Actor, now: datetime) -> None:
    """Takes a report out of its group and sends it out on its own.

    Its clocks count from the split, not from its submission: until now the
    problem was in hand (the group's contractor was on it), and deadlines from
    submission would alert the supervisor at once for time nobody could act on.
    The officer who splits it has looked at it, so its triage clock is met; a
    report the system releases (its group's ticket was rejected) keeps the
    classifier's urgency for the officer to confirm, as a new report does."""
    parent_id = member.group_of_id or member.duplicate_of_id
    lifecycle.split_out(member, actor, now)
    _unfollow(parent_id, member)
    urgency = member.urgency or Urgency.GENERAL
    lifecycle.assess(
        member,
        urgency,
        actor,
        now,
        deadlines=sla.deadlines(urgency.value, now, policy_for(member.community_id)),
        confirmed=actor.type is not ActorType.SYSTEM,
    )
    route = route_for(member)
    if route is not None and may_take(route.primary, member):
        dispatch_to(member, route.primary, lifecycle.Actor.system(), now)


def release_held(parent: Ticket, now: datetime) -> list[Ticket]:
    """Lets go of every report still held in the group of a ticket that ended
    without work. Merged into another ticket, that ticket is the same problem in
    hand: the reports wait in its group instead (an outside tester saw four held
    reports of one burst pipe go out as four jobs and four SMS). Rejected, or
    merged into a ticket that holds no group, each goes out on its own with fresh
    clocks, and the officer can group them again. Returns them."""
    released = held(parent)
    original = _group_for_the_held(parent)
    for member in released:
        if original is not None:
            _regroup(member, parent, original, now)
        else:
            split_out(member, lifecycle.Actor.system(), now)
    return released


def _group_for_the_held(parent: Ticket) -> Ticket | None:
    """Returns the ticket a merged group's held reports move to: the one it was
    merged into, while it is being worked on and is no group's member."""
    if parent.status is not TicketStatus.DUPLICATE or parent.duplicate_of_id is None:
        return None
    original = db.session.get(Ticket, parent.duplicate_of_id)
    if (
        original is None
        or original.status not in WORKING_STATUSES
        or original.group_of_id is not None
        or original.duplicate_of_id is not None
    ):
        return None
    return original


def _regroup(member: Ticket, parent: Ticket, original: Ticket, now: datetime) -> None:
    """Moves a held report from a merged ticket's group to its original's."""
    _unfollow(parent.id, member)
    hold_in_group(member, original, now)
    if member.urgency is Urgency.URGENT:
        raise_urgency(original, member, now)


def _unfollow(parent_id: int | None, member: Ticket) -> None:
    """Stops the member's resident following the group it leaves."""
    db.session.execute(
        sa.delete(TicketFollower).where(
            TicketFollower.ticket_id == parent_id,
            TicketFollower.source_ticket_id == member.id,
        )
    )


def _follow(parent: Ticket, member: Ticket) -> None:
    phone = member.reporter_phone
    if not phone or phone == parent.reporter_phone:
        return
    if any(f.phone == phone for f in parent.followers):
        return
    db.session.add(
        TicketFollower(
            ticket_id=parent.id,
            phone=phone,
            locale=member.reporter_locale or "zh_CN",
            source_ticket_id=member.id,
            created_at=member.created_at,
        )
    )
    db.session.flush()
    db.session.expire(parent, ["followers"])


# --- What the board shows: proposals and the district's surges


@dataclass(frozen=True)
class Proposal:
    """An open ticket with reports waiting in its group."""

    parent: Ticket
    waiting: int


def proposals(community_ids: list[int] | None) -> list[Proposal]:
    """Returns the groups the officer is asked to merge, largest first."""
    count = sa.func.count(Ticket.id)
    query = (
        sa.select(Ticket.group_of_id, count)
        .where(Ticket.group_of_id.is_not(None), Ticket.status == TicketStatus.NEW)
        .group_by(Ticket.group_of_id)
    )
    if community_ids is not None:
        query = query.where(Ticket.community_id.in_(community_ids))
    counts = dict(db.session.execute(query).all())
    if not counts:
        return []
    parents = db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(counts)))
    found = [Proposal(parent, counts[parent.id]) for parent in parents]
    return sorted(found, key=lambda p: (-p.waiting, p.parent.id))


@dataclass(frozen=True)
class Surge:
    """Reports of one category in one community since a time, and their groups."""

    community: Community
    category: Category | None
    reports: int
    groups: list[tuple[Ticket, int]]


def surges(community_ids: list[int] | None, since: datetime) -> list[Surge]:
    """Returns the reports received since ``since`` by community and category,
    most first, each with its groups (parent and reports in it, largest first)."""
    query = (
        sa.select(Ticket.community_id, Ticket.category_id, sa.func.count(Ticket.id))
        .where(Ticket.created_at >= since)
        .group_by(Ticket.community_id, Ticket.category_id)
    )
    if community_ids is not None:
        query = query.where(Ticket.community_id.in_(community_ids))
    rows = db.session.execute(query).all()
    grouped = sa.func.coalesce(Ticket.group_of_id, Ticket.duplicate_of_id)
    sizes = dict(
        db.session.execute(
            sa.select(grouped, sa.func.count(Ticket.id))
            .where(grouped.is_not(None), Ticket.created_at >= since)
            .group_by(grouped)
        ).all()
    )
    parents = (
        list(db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(sizes))))
        if sizes
        else []
    )
    communities = {c.id: c for c in db.session.scalars(sa.select(Community))}
    categories = {c.id: c for c in db.session.scalars(sa.select(Category))}
    found = []
    for community_id, category_id, reports in rows:
        groups = sorted(
            (
                (parent, sizes[parent.id] + 1)
                for parent in parents
                if parent.community_id == community_id
                and parent.category_id == category_id
            ),
            key=lambda item: (-item[1], item[0].id),
        )
        found.append(
            Surge(
                communities[community_id],
                categories.get(category_id),
                reports,
                groups,
            )
        )
    return sorted(found, key=lambda s: (-s.reports, s.community.id))


def storm_since(now: datetime | None, hours: int) -> datetime:
    """Returns the start of the surge view's period: the last ``hours`` hours."""
    return (now or utcnow()) - timedelta(hours=hours)

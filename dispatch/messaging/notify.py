"""Who hears about what: SMS outbox rows written with the event that causes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from jinja2 import TemplateNotFound

from dispatch.messaging.backends import sms_segments
from dispatch.messaging.summary import ELLIPSIS, summarise
from dispatch.messaging.templates import (
    ENUMERATED,
    MESSAGE_KINDS,
    STORED_LIMIT,
    variables_for,
)
from dispatch.models import Assignment, EndReason, MessageStatus, OutboxMessage
from repair.db import db, utcnow
from repair.i18n import format_local, zone_name
from repair.models import (
    ActorType,
    Channel,
    Contractor,
    Role,
    Ticket,
    TicketEvent,
    Urgency,
    User,
    user_community,
)
from repair.privacy import RESIDENT_RECIPIENTS

CLOCK_LABELS = {
    "triage": "紧急程度确认",
    "contact": "接单",
    "on_site": "到场",
    # four characters: Tencent Cloud's limit for this variable
    "hotline": "热线时限",
    # the officer's follow-up call (回访) after a low rating or a second reopen
    "follow_up": "回访时限",
}


@dataclass(frozen=True)
class Recipient:
    type: str  # contractor | officer | supervisor | resident
    id: int | None
    phone: str
    locale: str = "zh_CN"
    name: str | None = None
    #: a follower's own report, held in or merged into the ticket's group (并单)
    source: Ticket | None = None


def on_event(ticket: Ticket, event: TicketEvent) -> list[OutboxMessage]:
    """Writes the outbox messages an event calls for; the caller's commit sends them."""
    from dispatch.messaging.outbox import queue_message

    messages = []
    # One message per kind and person: a supervisor standing in for a missing
    # officer hears a breach once, as the supervisor (the later, stronger one).
    wanted = {
        (template, recipient.type, recipient.id or recipient.phone): (
            recipient,
            template,
            context,
        )
        for recipient, template, context in [
            *_messages_for(ticket, event),
            *_resident_requests(ticket, event),
        ]
    }
    for recipient, template, context in wanted.values():
        message = _outbox_row(ticket, event, recipient, template, context)
        if message is not None:
            messages.append(message)
            queue_message(message)
    return messages


#: A report of danger joining a group urgent already alerts the officer again
#: once the group has been quiet this long: five residents reporting one burst
#: pipe within minutes are one alert, a smell of gas "getting stronger" half an
#: hour later is news.
GROUP_NEWS_AFTER = timedelta(minutes=15)


def _group_has_news(ticket: Ticket, now: datetime) -> bool:
    """Returns whether an urgent report joining a group is news to its officers:
    the group was urgent before it came, and they have heard nothing of it for
    GROUP_NEWS_AFTER before ``now`` (the event's time)."""
    parent = db.session.get(Ticket, ticket.group_of_id)
    if parent is None or parent.urgency is not Urgency.URGENT:
        return False
    members = sa.select(Ticket.id).where(Ticket.group_of_id == parent.id)
    last = db.session.scalar(
        sa.select(sa.func.max(OutboxMessage.created_at)).where(
            OutboxMessage.template == "officer_new_urgent",
            sa.or_(
                OutboxMessage.ticket_id == parent.id,
                OutboxMessage.ticket_id.in_(members),
            ),
        )
    )
    return last is None or last <= now - GROUP_NEWS_AFTER


def _messages_for(ticket: Ticket, event: TicketEvent):
    data = event.data or {}
    action = event.action
    urgent = ticket.urgency is Urgency.URGENT
    first_assessment = not (data.get("previous") or {}).get("urgency")
    if action in ("classified", "urgency_confirmed") and urgent and first_assessment:
        # A report held in a storm group (并单) says nothing itself where its
        # group's ticket becomes urgent with it (that is what the officer hears);
        # joining a ticket urgent already, it is news of its own: a second smell
        # of gas "getting stronger" reached nobody (outside tester).
        filer = _filed_by_officer(ticket)
        if not ticket.group_of_id or _group_has_news(ticket, event.at):
            for officer in staff(ticket, Role.OFFICER):
                if officer.id != filer:  # they know: they have just filed it
                    yield officer, "officer_new_urgent", {}
    elif action == "classified" and urgent and _raised_by_group(data):
        # What made the group urgent is the report that joined it: its place and
        # words, not the general report the ticket was opened with.
        about = _raising_report(ticket, data)
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_new_urgent", about
        if ticket.contractor is not None:
            yield _contractor(ticket.contractor), "urgency_raised", about
    elif action == "dispatch" and data.get("assignment_id"):
        contractor = db.session.get(Contractor, data["contractor_id"])
        yield (
            _contractor(contractor),
            "dispatch",
            {
                "assignment_id": data["assignment_id"],
                "rework": data.get("reason") == "reopened",
            },
        )
        moved_from = data.get("previous_contractor_id")
        why = WITHDRAWN_BY_DISPATCH.get(data.get("reason"), "reassigned")
        if moved_from and moved_from != contractor.id and why:
            previous = db.session.get(Contractor, moved_from)
            if data.get("role") == "backup" and why == "reassigned":
                why = "backup"
            yield _contractor(previous), "job_moved", {"why": why}
    elif action in ("reject", "mark_duplicate") and ticket.contractor is not None:
        ended = latest_assignment(ticket, ticket.contractor_id)
        if ended is not None and ended.end_reason is EndReason.WITHDRAWN:
            yield (
                _contractor(ticket.contractor),
                "job_moved",
                {
                    "assignment_id": ended.id,
                    "why": "rejected" if action == "reject" else "duplicate",
                    "original": data.get("original") or "",
                },
            )
    elif action == "urgency_confirmed" and ticket.contractor is not None:
        if data.get("urgency") != (data.get("previous") or {}).get("urgency"):
            yield _contractor(ticket.contractor), "urgency_changed", {}
    elif action == "accept":
        if ticket.reporter_phone:
            yield _resident(ticket), "resident_accepted", {}
        for follower in _followers(ticket):
            yield follower, "resident_accepted", {}
    elif action == "complete":
        if ticket.reporter_phone:
            yield _resident(ticket), "resident_completed", {}
        for follower in _followers(ticket):
            if follower.source is None:
                yield follower, "resident_completed", {}
            else:
                # Their own report was held in or merged into this one (并单): it
                # names their number and this one, and links their own page. Only
                # this ticket's reporter confirms the repair (one job, one answer).
                yield (
                    follower,
                    "resident_completed_together",
                    {
                        "own_number": follower.source.number,
                        "own_id": follower.source.id,
                    },
                )
    elif action == "follow_up" and ticket.reporter_phone:
        yield _resident(ticket), "resident_follow_up", {}
    elif action == "sla_reminder" and "remind_contractor" in data.get("actions", []):
        # A nudge before the deadline (the ticket is not late).
        if ticket.contractor is not None:
            yield (
                _contractor(ticket.contractor),
                "reminder",
                {
                    "assignment_id": data.get("assignment_id"),
                    # no backup after this one: the officer hears at the deadline
                    "last": not _backup_follows(ticket, data.get("assignment_id")),
                },
            )
    elif action == "escalated":
        actions = data.get("actions", [])
        context = {"clock": data.get("clock")}
        if "alert_officer" in actions:
            for officer in staff(ticket, Role.OFFICER):
                yield officer, "officer_breach", context
        if "alert_supervisor" in actions:
            for supervisor in staff(ticket, Role.SUPERVISOR):
                yield supervisor, "officer_breach", {**context, "supervisor": True}
        if data.get("clock") == "on_site" and data.get("rung") == "breach":
            # The people waiting hear it too, once: whoever was promised the time
            # (an outside tester's family of someone trapped heard nothing).
            yield from _to_residents(ticket, "resident_late", {})
    elif action == "sla_reminder" and "remind_officer" in data.get("actions", []):
        due = datetime.fromisoformat(data["due_at"])
        context = {
            "clock": data.get("clock"),
            "due": _short_time(due, zone_name(ticket.community)),
        }
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_due_soon", context
    elif action == "follow_up_reminder":
        due = datetime.fromisoformat(data["due_at"])
        context = {
            "clock": "follow_up",
            "due": _short_time(due, zone_name(ticket.community)),
        }
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_due_soon", context
    elif action == "follow_up_missed":
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_breach", {"clock": "follow_up"}
        for supervisor in staff(ticket, Role.SUPERVISOR):
            yield (
                supervisor,
                "officer_breach",
                {"clock": "follow_up", "supervisor": True},
            )
    elif action == "pause_requested":
        # The officer decides: a request waits for them (挂起待批).
        context = {
            "resume_at": _parse_time(data.get("resume_expected_at")),
            "cause": data.get("cause"),
        }
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_pause_requested", context
    elif action in ("pause_approved", "pause_refused"):
        resume_at = _parse_time(data.get("resume_expected_at"))
        if ticket.contractor:
            yield (
                _contractor(ticket.contractor),
                action,  # the message kinds pause_approved and pause_refused
                {"resume_at": resume_at, "assignment_id": _assignment_id(ticket)},
            )
        if action == "pause_approved":
            yield from _to_residents(ticket, *_paused_message(ticket, event, resume_at))
    elif action == "resumed":
        if data.get("how") == "expected":
            # The reminder: the expected time came and the clock runs again.
            if ticket.contractor is not None:
                yield (
                    _contractor(ticket.contractor),
                    "pause_resumed",
                    {"assignment_id": _assignment_id(ticket)},
                )
            for officer in staff(ticket, Role.OFFICER):
                yield officer, "officer_pause_resumed", {}
        if data.get("how") in RESUMED_BY:
            # Not when arriving or completing ended the pause: that says itself.
            at_work = ticket.on_site_at is not None or ticket.on_site_due_at is None
            kind = "resident_resumed_at_work" if at_work else "resident_resumed"
            yield from _to_residents(ticket, kind, {})
    elif action == "sms_failed" and data.get("recipient_type") in (
        "contractor",
        "resident",
    ):
        for officer in staff(ticket, Role.OFFICER):
            yield (
                officer,
                "officer_sms_failed",
                {
                    "who": data.get("recipient_name") or "",
                    "phone": data.get("to_phone") or "",
                },
            )


#: How a pause ends that the resident hears of as the work going on again.
RESUMED_BY = frozenset({"contractor", "officer", "expected"})


def _to_residents(ticket: Ticket, kind: str, context: dict):
    """The reporter (if they left a number) and the ticket's followers."""
    if ticket.reporter_phone:
        yield _resident(ticket), kind, context
    for follower in _followers(ticket):
        yield follower, kind, context


def _paused_message(
    ticket: Ticket, event: TicketEvent, resume_at: datetime | None
) -> tuple[str, dict]:
    """Returns the resident's message kind for an approved pause and its context:
    why (the kind of reason, never the contractor's words), until when, and the
    on-site time it makes if the work goes on at the expected time."""
    pause_id = (event.data or {}).get("pause_id")
    asked = db.session.scalars(
        sa.select(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == "pause_requested",
        )
        .order_by(TicketEvent.id.desc())
    ).all()
    cause = next(
        (
            (e.data or {}).get("cause")
            for e in asked
            if (e.data or {}).get("pause_id") == pause_id
        ),
        None,
    )
    context: dict = {"resume_at": resume_at, "cause": cause}
    due = ticket.on_site_due_at
    if ticket.on_site_at is not None or due is None or resume_at is None:
        return "resident_paused_at_work", context
    context["on_site_at"] = due + max(resume_at - event.at, timedelta(0))
    return "resident_paused", context


#: Why a dispatch took the job from its previous contractor, as the withdrawal
#: SMS says it; None: they need no SMS (they declined, or could not be reached).
WITHDRAWN_BY_DISPATCH = {
    "officer": "reassigned",
    "no_contact": "backup",
    "declined": None,
    "undeliverable": None,
}


def _raised_by_group(data: dict) -> bool:
    """Returns whether an urgent report joining the ticket's group made it urgent."""
    reasons = data.get("reasons") or []
    was = (data.get("previous") or {}).get("urgency")
    return bool(reasons) and reasons[0].startswith("group:") and was != "urgent"


def _raising_report(ticket: Ticket, data: dict) -> dict:
    """Returns the place and words of the urgent report whose joining the group
    made the ticket urgent (the first reason names it: ``group:<number>``)."""
    number = (data.get("reasons") or [""])[0].removeprefix("group:")
    member = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
    if member is None:
        return {}
    place = place_with_lift(member)
    if member.spot:
        place = f"{place} {member.spot}".strip()
    return {"place": place, "problem": member.description or ""}


def _assignment_id(ticket: Ticket) -> int | None:
    latest = latest_assignment(ticket, ticket.contractor_id)
    return latest.id if latest is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _filed_by_officer(ticket: Ticket) -> int | None:
    """Returns the id of the officer who filed the ticket (帮办), if one did."""
    return db.session.scalar(
        sa.select(TicketEvent.actor_id).where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == "submitted",
            TicketEvent.actor_type == ActorType.OFFICER,
        )
    )


def latest_assignment(ticket: Ticket, contractor_id: int | None) -> Assignment | None:
    """Returns the contractor's latest assignment on the ticket (open or ended)."""
    if contractor_id is None:
        return None
    return db.session.scalar(
        sa.select(Assignment)
        .where(
            Assignment.ticket_id == ticket.id,
            Assignment.contractor_id == contractor_id,
        )
        .order_by(Assignment.id.desc())
        .limit(1)
    )


# --- The resident's side: what the officer asks of the resident, the named lift ---


#: The channels of a report the officer files for a caller (帮办): the caller saw
#: no page with its number.
FILED_FOR_CALLER = frozenset({Channel.PHONE, Channel.WALK_IN})


def _resident_requests(ticket: Ticket, event: TicketEvent):
    """The officer asks the resident for a photo: an SMS with their private link.
    A report the officer filed for a caller: its number and the caller's own page
    at once (outside tester: an 82-year-old caller heard nothing until a
    contractor accepted, which for a general job may be a day)."""
    if not ticket.reporter_phone:
        return
    if event.action == "photo_requested":
        yield _resident(ticket), "resident_photo_request", {"private": True}
    elif event.action == "submitted" and event.channel in FILED_FOR_CALLER:
        yield _resident(ticket), "resident_filed", {"private": True}


def place_with_lift(ticket: Ticket) -> str:
    """Returns the ticket's place as on the signs, with the lift the resident named
    (name and use certificate number), so the contractor goes to the right one.

    Where the certificate number would not fit in a message's variable it is left
    out, the lift's name kept: a number cut short looks whole and is the wrong one
    to give 96333 (the job page shows it in full)."""
    place = ticket.entrance.label("zh_CN") if ticket.entrance else ""
    if ticket.lift is not None:
        named = f"{place} {ticket.lift.label()}".strip()
        if len(named) > STORED_LIMIT:
            named = f"{place} {ticket.lift.name}".strip()
        place = named
    return place


# ---


def staff(ticket: Ticket, role: Role) -> list[Recipient]:
    """Returns the community's active users of a role who have a phone number.

    Supervisors fall back to administrators when a community has none, and
    officers to its supervisors, then administrators: an urgent report or a missed
    deadline in a community with no officer to text must still reach someone.
    """
    roles = {
        Role.OFFICER: [Role.OFFICER, Role.SUPERVISOR, Role.ADMIN],
        Role.SUPERVISOR: [Role.SUPERVISOR, Role.ADMIN],
    }.get(role, [role])
    for wanted in roles:
        users = db.session.scalars(
            sa.select(User)
            .join(user_community, user_community.c.user_id == User.id)
            .where(
                user_community.c.community_id == ticket.community_id,
                User.role == wanted,
                User.is_active.is_(True),
                User.phone.is_not(None),
            )
            .order_by(User.id)
        ).all()
        if users:
            return [
                Recipient(u.role.value, u.id, u.phone, "zh_CN", u.display_name)
                for u in users
            ]
    return []


def _contractor(contractor: Contractor) -> Recipient:
    return Recipient(
        "contractor",
        contractor.id,
        contractor.phone,
        contractor.language,
        contractor.name,
    )


def _followers(ticket: Ticket) -> list[Recipient]:
    """Returns the residents who said "me too" and left a phone number."""
    return [
        Recipient(
            "follower",
            f.id,
            f.phone,
            f.locale,
            source=db.session.get(Ticket, f.source_ticket_id)
            if f.source_ticket_id
            else None,
        )
        for f in ticket.followers
        if f.phone and f.phone != ticket.reporter_phone
    ]


def _resident(ticket: Ticket) -> Recipient:
    return Recipient(
        "resident", None, ticket.reporter_phone, ticket.reporter_locale or "zh_CN"
    )


def queue_reply(
    recipient: Recipient,
    template: str,
    ticket: Ticket | None,
    dedupe_key: str,
    context: dict | None = None,
) -> OutboxMessage:
    """Writes an answer to an inbound SMS (not caused by an event) to the outbox."""
    from dispatch.messaging.outbox import queue_message

    now = utcnow()
    variables = {}
    if ticket is not None:
        variables = variables_for(template, ticket, context or {}, recipient)
    variables, body = fit_variables(template, variables, recipient.locale)
    message = OutboxMessage(
        dedupe_key=dedupe_key[:120],
        ticket_id=ticket.id if ticket is not None else None,
        template=template,
        recipient_type=recipient.type,
        recipient_id=recipient.id,
        to_phone=recipient.phone,
        locale=recipient.locale,
        body=body,
        variables=variables,
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    queue_message(message)
    return message


def contractor_recipient(contractor: Contractor) -> Recipient:
    """Returns a contractor as the recipient of an SMS."""
    return _contractor(contractor)


def _outbox_row(
    ticket: Ticket,
    event: TicketEvent,
    recipient: Recipient,
    template: str,
    context: dict,
) -> OutboxMessage | None:
    key = f"{event.id}:{template}:{recipient.type}:{recipient.id or recipient.phone}"
    now = utcnow()
    if recipient.type in RESIDENT_RECIPIENTS and over_daily_cap(recipient.phone, now):
        return None
    urgent = ticket.urgency is Urgency.URGENT
    validity = _validity(urgent, template)
    variables = variables_for(template, ticket, context, recipient)
    variables, body = fit_variables(template, variables, recipient.locale)
    message = OutboxMessage(
        dedupe_key=key[:120],
        ticket_id=ticket.id,
        event_id=event.id,
        template=template,
        recipient_type=recipient.type,
        recipient_id=recipient.id,
        to_phone=recipient.phone,
        locale=recipient.locale,
        body=body,
        variables=variables,
        urgent=urgent,
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        valid_until=now + validity if validity else None,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    return message


def over_daily_cap(phone: str, now: datetime) -> bool:
    """Returns whether a resident's or follower's number has had its texts for the
    day (REPAIRDESK_SMS_PER_NUMBER_PER_DAY): anyone can give any number, so a
    number nobody confirmed must not become a way to text it without end."""
    cap = int(current_app.config["SMS_PER_NUMBER_PER_DAY"])
    sent = db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.to_phone == phone,
            OutboxMessage.recipient_type.in_(RESIDENT_RECIPIENTS),
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    )
    return sent >= cap


def _validity(urgent: bool, template: str) -> timedelta | None:
    # An urgent job offer is worthless once the contact deadline has passed.
    if urgent and template in ("dispatch", "reminder", "officer_new_urgent"):
        return current_app.config["SLA_URGENT_CONTACT"]
    return None


#: Every message kind and who receives it; its variables are MESSAGE_KINDS'.
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    kind: (roles, MESSAGE_KINDS[kind])
    for kind, roles in {
        # to contractors
        "dispatch": ("contractor",),
        "reminder": ("contractor",),
        "urgency_changed": ("contractor",),
        "urgency_raised": ("contractor",),
        "job_moved": ("contractor",),
        "reply_accepted": ("contractor",),
        "reply_already": ("contractor",),
        "reply_declined": ("contractor",),
        "reply_help": ("contractor",),
        "reply_no_job": ("contractor",),
        # to officers and supervisors
        "officer_new_urgent": ("officer",),
        "officer_breach": ("officer", "supervisor"),
        "officer_sms_failed": ("officer",),
        "officer_due_soon": ("officer",),
        "officer_pause_resumed": ("officer",),
        # the pause (挂起): the decision, and the clock back at the expected time
        "pause_approved": ("contractor",),
        "pause_refused": ("contractor",),
        "pause_resumed": ("contractor",),
        "officer_pause_requested": ("officer",),
        "resident_paused": ("resident", "follower"),
        "resident_paused_at_work": ("resident", "follower"),
        "resident_resumed": ("resident", "follower"),
        "resident_resumed_at_work": ("resident", "follower"),
        "resident_late": ("resident", "follower"),
        # to residents: the reporter, and neighbours who follow the ticket
        "resident_accepted": ("resident", "follower"),
        "resident_completed": ("resident", "follower"),
        "resident_completed_together": ("follower",),
        "resident_follow_up": ("resident",),
        "resident_photo_request": ("resident",),
        "resident_filed": ("resident",),
    }.items()
}

#: Kinds whose text ends in a link: staff's to the board page of the ticket, the
#: others' to /j/<code> (a job, or the reporter's own tracking page) or, for a
#: neighbour, the public tracking page.
LINKED_KINDS = frozenset(
    kind
    for kind, names in MESSAGE_KINDS.items()
    if "code" in names or kind.startswith("officer_")
)

#: Staff roles that read a ticket on the board (supervisors fall back to admins).
BOARD_ROLES = frozenset({"officer", "supervisor", "admin"})
#: The longest an SMS may be: two segments.
MAX_SEGMENTS = 2


def message_link(kind: str, variables: Mapping[str, str]) -> str:
    """Returns the link a message's text ends with, made from its variables only:
    the job code opens the job (or the reporter's page) at /j/<code>; a ticket
    number in its place is a neighbour's public page; staff go to the board."""
    from dispatch.contractor.tokens import code_owner

    base = current_app.config["PUBLIC_URL"]
    number = variables.get("number") or ""
    if kind.startswith("officer_"):
        return f"{base}/board/t/{number}" if number else ""
    code = variables.get("code") or ""
    if not code:
        return ""
    if code == number and code_owner(code) is None:  # the number asked first: no query
        return f"{base}/t/{number}"
    return f"{base}/j/{code}"


def render_text(kind: str, variables: Mapping[str, str], locale: str) -> str:
    """Renders a message from its kind and variables in the recipient's language
    (Chinese where we have no English text): the text the console shows and
    Twilio sends."""
    language = "en" if (locale or "").startswith("en") else "zh_CN"
    try:
        template = current_app.jinja_env.get_template(f"sms/{language}/{kind}.txt")
    except TemplateNotFound:
        language = "zh_CN"
        template = current_app.jinja_env.get_template(f"sms/zh_CN/{kind}.txt")
    values = {name: "" for name in MESSAGE_KINDS.get(kind, ())}
    values.update(variables or {})
    if language == "en":
        for name, words in ENUMERATED.items():
            if name in values:
                values[name] = words.get(values[name], values[name])
    values["link"] = message_link(kind, variables or {})
    if language == "en" and values["link"] and not kind.startswith("officer_"):
        # The page opens in the language of the text, not the phone browser's
        # (an English reporter's link had opened in Chinese).
        values["link"] += "?lang=en"
    return render_template(template, **values).strip()


def fit_variables(
    kind: str, variables: dict[str, str], locale: str
) -> tuple[dict[str, str], str]:
    """Shortens the free-text variables until the text fits two segments (the
    resident's words give way first); returns them and the text."""
    body = render_text(kind, variables, locale)
    for name in GIVES_WAY:
        text = variables.get(name) or ""
        while text and sms_segments(body) > MAX_SEGMENTS:
            limit = len(text) - max(1, (len(text) - 1) // 4)
            variables[name] = text = summarise(text.rstrip(ELLIPSIS), limit)
            body = render_text(kind, variables, locale)
    return variables, body


def render_message(message: OutboxMessage) -> str:
    """Returns the text of an outbox row, rendered from its kind and variables."""
    if message.variables is None:
        return message.body  # a row from before messages kept their variables
    return render_text(message.template, message.variables, message.locale or "")


def render_sms(
    template: str, recipient: Recipient, ticket: Ticket, context: dict
) -> str:
    """Renders the message of a kind about a ticket to one recipient, as its
    outbox row will say it (within two segments)."""
    variables = variables_for(template, ticket, context, recipient)
    return fit_variables(template, variables, recipient.locale)[1]


#: What is shortened, in this order, when a message would take more than two
#: segments: the resident's own words, the place, the category, the company.
GIVES_WAY = ("problem", "place", "category", "contractor", "who")


def _rework_note(ticket: Ticket) -> str:
    """Returns what the resident said when they reported the repair unfixed."""
    from dispatch.assignment.rework import rework_of

    rework = rework_of(ticket)
    return rework.note if rework is not None and rework.note else ticket.description


def _short_time(value: datetime | None, tz: str) -> str:
    # Deadlines within the day read as HH:MM; further ones carry the date.
    if value is None:
        return ""
    text = format_local(value, tz)
    today = format_local(utcnow(), tz)[:10]
    return text[11:] if text[:10] == today else text[5:]


def _backup_follows(ticket: Ticket, assignment_id: int | None) -> bool:
    """Returns whether the job goes to a backup if the contractor reminded of it
    does not accept in time (the contact ladder hands it over once, AB岗)."""
    from dispatch.assignment.routes import backup_for

    assignment = db.session.get(Assignment, assignment_id) if assignment_id else None
    if assignment is not None and assignment.role == "backup":
        return False
    return backup_for(ticket) is not None

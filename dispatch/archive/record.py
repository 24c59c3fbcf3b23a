"""A ticket's record for the community's archive (档案), as plain data: the JSON
file as it is, and the only input of its PDF.

The record is a list of sections (``SECTIONS``). Each one builds its part of the
JSON from the ticket and says how the PDF prints that part; to add one (materials
and cost, say), write a ``Section`` with its two functions and add it
to ``SECTIONS``: the JSON, the PDF and the tests' agreement check follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale, get_translations

from dispatch.models import FollowUpTask
from repair.db import db
from repair.i18n import zone_name
from repair.models import ActorType, Ticket, TicketEvent
from repair.privacy import ERASED, mask_name, mask_phone

FORMAT = "repairdesk-archive/1"
#: The record's languages: Chinese first, English second.
LANGUAGES = ("zh_CN", "en")
#: The board's names of statuses, actions, channels, actors and clocks.
LABELS_TEMPLATE = "resident/_labels.html"
#: Why residents' data was erased (the erasure event's reason), as the PDF says it.
ERASURE_REASONS = {
    "retention": {"zh": "保存期满", "en": "retention period ended"},
    "request": {"zh": "本人申请", "en": "the resident's request"},
    "hotline_retention": {"zh": "保存期满", "en": "retention period ended"},
}
#: Where residents' numbers may sit in an event's data (a failed SMS's recipient).
RESIDENT_RECIPIENTS = ("resident", "follower")

Text = dict[str, str]  # {"zh": …, "en": …}


def _(message: str) -> str:
    """Marks a catalog message for extraction; Labels.text translates it later,
    into both languages at once."""
    return message


@dataclass
class Labels:
    """The board's labels and the catalogs' translations, in both languages."""

    modules: dict[str, Any]
    translations: dict[str, Any]
    tz: ZoneInfo

    @classmethod
    def load(cls, tz: str) -> Labels:
        """Returns the labels as the board shows them (needs an app context)."""
        template = current_app.jinja_env.get_template(LABELS_TEMPLATE)
        modules, translations = {}, {}
        for locale in LANGUAGES:
            with force_locale(locale):
                # make_module, not .module: that one is cached in the first locale.
                modules[locale] = template.make_module()
                translations[locale] = get_translations()
        return cls(modules, translations, ZoneInfo(tz))

    def label(self, table: str, key: str | None) -> Text | None:
        """Returns one of the board's labels ("ACTION_LABELS", "reopen") in both
        languages; the key itself where the board has no label for it."""
        if key is None:
            return None
        return {
            short: str(getattr(self.modules[locale], table).get(key, key))
            for short, locale in zip(("zh", "en"), LANGUAGES, strict=True)
        }

    def text(self, msgid: str, **values: Any) -> Text:
        """Returns a catalog message in both languages, filled in with values."""
        return {
            short: self.translations[locale].ugettext(msgid) % values
            if values
            else self.translations[locale].ugettext(msgid)
            for short, locale in zip(("zh", "en"), LANGUAGES, strict=True)
        }

    def time(self, value: datetime | None) -> str | None:
        """Returns a UTC time as the community's local time with its offset
        (ISO 8601, to the second)."""
        if value is None:
            return None
        return value.astimezone(self.tz).isoformat(timespec="seconds")


# What the PDF prints: rows a section turns its data into.
@dataclass(frozen=True)
class Fact:
    """A labelled value: "地点 Place: 阳光花园 3栋 2单元"."""

    label: Text
    value: str


@dataclass(frozen=True)
class Entry:
    """A dated line with details under it (a timeline event, a pause)."""

    when: str | None
    title: Text
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Picture:
    """A photo, drawn from the archive's copy of its display file."""

    sha256: str
    caption: str
    width: int
    height: int
    available: bool


Row = Fact | Entry | Picture


@dataclass(frozen=True)
class Section:
    """One part of the record: its key in the JSON, its heading (a catalog
    message), how it is built from the ticket and how the PDF prints it."""

    key: str
    title: str
    build: Callable[[Ticket, Labels], Any]
    rows: Callable[[Any, Labels], list[Row]] = field(repr=False)


def both(text: Text) -> str:
    """Returns "中文 English", or one of them when they are the same (or one is
    empty)."""
    if text["zh"] == text["en"] or not text["en"]:
        return text["zh"]
    return f"{text['zh']} {text['en']}"


def printed_time(value: str | None) -> str:
    """Returns an ISO local time as the PDF prints it: 2026-11-22 10:00:00 +08:00."""
    if not value:
        return "—"
    return value[:10] + " " + value[11:19] + " " + value[19:]


# --- the ticket's facts --------------------------------------------------------


def _facts(ticket: Ticket, labels: Labels) -> dict[str, Any]:
    entrance, category = ticket.entrance, ticket.category
    duplicate_of = ticket.duplicate_of_id and _number_of(ticket.duplicate_of_id)
    return {
        "status": ticket.status.value,
        "status_label": labels.label("STATUS_LABELS", ticket.status.value),
        "place": {"zh": entrance.label("zh_CN"), "en": entrance.label("en")}
        if entrance
        else None,
        "lift": ticket.lift.label() if ticket.lift else None,
        "spot": ticket.spot or None,
        "category": {"zh": category.name, "en": category.name_en} if category else None,
        "description": ticket.description,
        "channel": ticket.channel.value,
        "channel_label": labels.label("CHANNEL_LABELS", ticket.channel.value),
        "urgency": ticket.urgency.value if ticket.urgency else None,
        "reported_at": labels.time(ticket.created_at),
        "completed_at": labels.time(ticket.completed_at),
        "closed_at": labels.time(ticket.closed_at),
        "contractor": ticket.contractor.name if ticket.contractor else None,
        "completed_by": ticket.completed_by_name,
        "completion_note": ticket.completion_note,
        "duplicate_of": duplicate_of or None,
        "followers": len(ticket.followers),
    }


def _number_of(ticket_id: int) -> str | None:
    other = db.session.get(Ticket, ticket_id)
    return other.number if other else None


def _fact_rows(data: dict[str, Any], labels: Labels) -> list[Row]:
    urgency = {"urgent": labels.text(_("Urgent")), "general": labels.text(_("General"))}
    rows = [
        (labels.text(_("Status")), both(data["status_label"])),
        (labels.text(_("Place")), data["place"] and both(data["place"])),
        (labels.text(_("Lift")), data["lift"]),
        (labels.text(_("Spot")), data["spot"]),
        (labels.text(_("Category")), data["category"] and both(data["category"])),
        (labels.text(_("Urgency")), data["urgency"] and both(urgency[data["urgency"]])),
        (labels.text(_("Problem")), data["description"]),
        (
            labels.text(_("Reported")),
            f"{printed_time(data['reported_at'])} · {both(data['channel_label'])}",
        ),
        (labels.text(_("Contractor")), data["contractor"]),
        (labels.text(_("Completed by")), data["completed_by"]),
        (labels.text(_("Completion note")), data["completion_note"]),
        (
            labels.text(_("Completed")),
            data["completed_at"] and printed_time(data["completed_at"]),
        ),
        (labels.text(_("Closed")), printed_time(data["closed_at"])),
        (labels.text(_("Duplicate of")), data["duplicate_of"]),
        (
            labels.text(_("Residents with the same problem")),
            str(data["followers"]) if data["followers"] else None,
        ),
    ]
    return [Fact(label, value) for label, value in rows if value]


# --- the resident ---------------------------------------------------------------


def _resident(ticket: Ticket, labels: Labels) -> dict[str, Any]:
    # Masked always: an archive leaves the system (copied, printed, kept for
    # years), the record of the work needs no number, and the full one stays in
    # RepairDesk until the retention period erases it.
    erasures = [e for e in ticket.events if e.action == ERASED]
    return {
        "name": mask_name(ticket.reporter_name) or None,
        "phone": mask_phone(ticket.reporter_phone) or None,
        "erased_at": labels.time(erasures[-1].at) if erasures else None,
    }


def _resident_rows(data: dict[str, Any], labels: Labels) -> list[Row]:
    shown = " ".join(value for value in (data["name"], data["phone"]) if value)
    if data["erased_at"]:
        erased = labels.label("ACTION_LABELS", ERASED)
        when = f"{both(erased)} {printed_time(data['erased_at'])}"
        shown = f"{shown} ({when})" if shown else when
    return [Fact(labels.text(_("Resident")), shown or "—")]


# --- the timeline ---------------------------------------------------------------


def _timeline(ticket: Ticket, labels: Labels) -> list[dict[str, Any]]:
    return [_event(event, labels) for event in ticket.events]


def _event(event: TicketEvent, labels: Labels) -> dict[str, Any]:
    resident = event.actor_type is ActorType.RESIDENT
    name = mask_name(event.actor_name) if resident else event.actor_name
    return {
        "at": labels.time(event.at),
        "action": event.action,
        "label": labels.label("ACTION_LABELS", event.action),
        "detail": _detail(event, labels),
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value if event.to_status else None,
        "actor_type": event.actor_type.value,
        "actor": name or None,
        "actor_label": labels.label("ACTOR_LABELS", event.actor_type.value),
        "channel": event.channel.value,
        "channel_label": labels.label("CHANNEL_LABELS", event.channel.value),
        "note": event.note,
        "data": _masked(event.data),
    }


def _detail(event: TicketEvent, labels: Labels) -> Text | None:
    """Returns what the board prints after an event's label, in both languages."""
    data = event.data or {}
    action = event.action
    if action == "dispatch" and data.get("contractor"):
        return {"zh": f"→ {data['contractor']}", "en": f"→ {data['contractor']}"}
    if action in ("escalated", "sla_reminder") and data.get("clock"):
        return labels.label("CLOCK_LABELS", data["clock"])
    if action in ("pause_requested", "pause_approved") and data.get(
        "resume_expected_at"
    ):
        until = datetime.fromisoformat(data["resume_expected_at"])
        return labels.text(_("until %(time)s"), time=printed_time(labels.time(until)))
    if action == "resumed" and data.get("paused_seconds") is not None:
        minutes = round(data["paused_seconds"] / 60, 1)
        return labels.text(_("paused %(minutes)s min"), minutes=minutes)
    if action in ("merged", "group_joined", "group_split") and data.get("member"):
        # the member's ticket number (and spot), as the board prints it
        member = " · ".join(str(v) for v in (data["member"], data.get("spot")) if v)
        return {"zh": member, "en": member}
    if action in ("grouped", "split") and data.get("group"):
        return {"zh": str(data["group"]), "en": str(data["group"])}
    if action == ERASED and data.get("reason"):
        return ERASURE_REASONS.get(
            data["reason"], {"zh": data["reason"], "en": data["reason"]}
        )
    return None


def _masked(data: dict[str, Any] | None) -> dict[str, Any] | None:
    # A failed SMS names its recipient. A resident's number is masked as
    # everywhere in the record, their name left out: an erasure forgets names on
    # the ticket and in events, not in this copy.
    if data and data.get("recipient_type") in RESIDENT_RECIPIENTS:
        return {
            **data,
            "to_phone": mask_phone(data.get("to_phone")) or None,
            "recipient_name": None,
        }
    return data


def _timeline_rows(events: list[dict[str, Any]], labels: Labels) -> list[Row]:
    rows: list[Row] = []
    for event in events:
        title, detail = event["label"], event["detail"]
        if detail and detail["zh"] == detail["en"]:
            # A name or an arrow reads the same in both: printed once, after both.
            title = {"zh": f"{both(title)}: {detail['zh']}", "en": ""}
        elif detail:
            title = {k: f"{title[k]}: {detail[k]}" for k in title}
        who = event["actor"] or both(event["actor_label"])
        lines = [f"{who} · {both(event['channel_label'])}"]
        if event["note"]:
            lines.append(event["note"])
        rows.append(Entry(printed_time(event["at"]), title, tuple(lines)))
    return rows


# --- photos ----------------------------------------------------------------------

PHOTO_PURPOSES = {
    "report": _("Resident's photo"),
    "completion": _("Completion photo"),
    "reopen": _("Photo: not fixed"),
}


def _photos(ticket: Ticket, labels: Labels) -> list[dict[str, Any]]:
    photos = []
    for photo in ticket.photos:
        ready = not photo.is_pending
        photos.append(
            {
                "purpose": photo.purpose,
                "purpose_label": labels.text(PHOTO_PURPOSES[photo.purpose])
                if photo.purpose in PHOTO_PURPOSES
                else {"zh": photo.purpose, "en": photo.purpose},
                "at": labels.time(photo.created_at),
                "sha256": photo.sha256 if ready else None,
                "width": photo.width,
                "height": photo.height,
                # Filled in by the archive: the display copy's path, if it has it.
                "file": None,
            }
        )
    return photos


def _photo_rows(photos: list[dict[str, Any]], labels: Labels) -> list[Row]:
    return [
        Picture(
            photo["sha256"] or "",
            f"{both(photo['purpose_label'])} · {printed_time(photo['at'])}",
            photo["width"],
            photo["height"],
            photo["file"] is not None,
        )
        for photo in photos
    ]


# --- pauses ----------------------------------------------------------------------


PAUSE_STATES = {
    "requested": {"zh": "申请挂起，待批准", "en": "pause requested"},
    "refused": {"zh": "挂起未批准", "en": "pause refused"},
    "withdrawn": {"zh": "挂起申请已撤回", "en": "pause request withdrawn"},
    "lapsed": {"zh": "挂起申请已失效", "en": "pause request lapsed"},
    "active": {"zh": "挂起中", "en": "paused"},
    "ended": {"zh": "已挂起，已恢复", "en": "paused, resumed"},
}


def _pauses(ticket: Ticket, labels: Labels) -> list[dict[str, Any]]:
    return [
        {
            "state": pause.state.value,
            "reason": pause.reason,
            "contractor": pause.contractor.name if pause.contractor else None,
            "requested_at": labels.time(pause.requested_at),
            "resume_expected_at": labels.time(pause.resume_expected_at),
            "decided_at": labels.time(pause.decided_at),
            "decided_by": pause.decided_by,
            "decision_note": pause.decision_note,
            "started_at": labels.time(pause.started_at),
            "ended_at": labels.time(pause.ended_at),
            "ended_how": pause.ended_how,
            "paused_seconds": pause.paused_seconds,
        }
        for pause in ticket.pauses
    ]


def _pause_rows(pauses: list[dict[str, Any]], labels: Labels) -> list[Row]:
    rows: list[Row] = []
    for pause in pauses:
        lines = [pause["reason"]]
        if pause["started_at"]:
            lines.append(
                f"{printed_time(pause['started_at'])} → "
                f"{printed_time(pause['ended_at'])}"
            )
        if pause["paused_seconds"] is not None:
            minutes = round(pause["paused_seconds"] / 60, 1)
            lines.append(
                both(labels.text(_("paused %(minutes)s min"), minutes=minutes))
            )
        if pause["decided_by"]:
            lines.append(pause["decided_by"])
        if pause["decision_note"]:
            lines.append(pause["decision_note"])
        title = PAUSE_STATES.get(pause["state"], {"zh": "", "en": pause["state"]})
        rows.append(Entry(printed_time(pause["requested_at"]), title, tuple(lines)))
    return rows


# --- the rating ------------------------------------------------------------------


def _rating(ticket: Ticket, labels: Labels) -> dict[str, Any] | None:
    rating = ticket.rating
    if rating is None:
        return None
    return {
        "stars": rating.stars,
        "comment": rating.comment,
        "at": labels.time(rating.created_at),
    }


def _rating_rows(rating: dict[str, Any] | None, labels: Labels) -> list[Row]:
    if rating is None:
        return [Fact(labels.text(_("Rating")), "—")]
    stars = "★" * rating["stars"] + "☆" * (5 - rating["stars"])
    value = f"{stars} {rating['stars']}/5 · {printed_time(rating['at'])}"
    rows: list[Row] = [Fact(labels.text(_("Rating")), value)]
    if rating["comment"]:
        rows.append(Fact(labels.text(_("Comment")), rating["comment"]))
    return rows


# --- follow-up calls (回访) ---------------------------------------------------

#: The board's words for a follow-up's reason and outcome (the same msgids).
FOLLOW_UP_REASONS = {"low_rating": _("Low rating"), "reopened": _("Not fixed, twice")}
FOLLOW_UP_OUTCOMES = {
    "resolved": _("Solved now; the resident is content"),
    "explained": _("Explained; the resident accepts it"),
    "rework": _("Needs more work (reopen the ticket)"),
    "unsatisfied": _("Still unsatisfied"),
}


def _follow_ups(ticket: Ticket, labels: Labels) -> list[dict[str, Any]]:
    tasks = db.session.scalars(
        sa.select(FollowUpTask)
        .where(FollowUpTask.ticket_id == ticket.id)
        .order_by(FollowUpTask.id)
    )
    return [
        {
            "reason": task.reason.value,
            "opened_at": labels.time(task.created_at),
            "due_at": labels.time(task.due_at),
            "attempts": task.attempts,
            "last_attempt_at": labels.time(task.last_attempt_at),
            "done_at": labels.time(task.done_at),
            "done_by": task.done_by,
            "outcome": task.outcome.value if task.outcome else None,
            "note": task.note,
            "on_time": None if task.done_at is None else task.done_at <= task.due_at,
        }
        for task in tasks
    ]


def _follow_up_rows(tasks: list[dict[str, Any]], labels: Labels) -> list[Row]:
    rows: list[Row] = []
    for task in tasks:
        reason = FOLLOW_UP_REASONS.get(task["reason"])
        title = labels.text(reason) if reason else {"zh": "", "en": task["reason"]}
        lines = [
            both(labels.text(_("Due %(time)s"), time=printed_time(task["due_at"]))),
            both(labels.text(_("Calls made: %(count)s"), count=task["attempts"])),
        ]
        if task["done_at"]:
            done = labels.text(_("Done %(time)s"), time=printed_time(task["done_at"]))
            late = "" if task["on_time"] else " · " + both(labels.text(_("late")))
            lines.append(both(done) + late)
        if task["outcome"]:
            lines.append(both(labels.text(FOLLOW_UP_OUTCOMES[task["outcome"]])))
        if task["note"]:
            lines.append(task["note"])
        if task["done_by"]:
            lines.append(task["done_by"])
        rows.append(Entry(printed_time(task["opened_at"]), title, tuple(lines)))
    if not rows:
        rows.append(Fact(labels.text(_("Follow-up calls")), "—"))
    return rows


SECTIONS: tuple[Section, ...] = (
    Section("ticket", _("Repair record"), _facts, _fact_rows),
    Section("resident", _("Resident"), _resident, _resident_rows),
    Section("timeline", _("Timeline"), _timeline, _timeline_rows),
    Section("pauses", _("Paused work"), _pauses, _pause_rows),
    Section("rating", _("Rating"), _rating, _rating_rows),
    Section("follow_ups", _("Follow-up calls"), _follow_ups, _follow_up_rows),
    Section("photos", _("Photos"), _photos, _photo_rows),
)


def ticket_record(ticket: Ticket, labels: Labels | None = None) -> dict[str, Any]:
    """Returns a ticket's full record as plain data (JSON-ready), every section."""
    labels = labels or Labels.load(zone_name(ticket.community))
    community = ticket.community
    record: dict[str, Any] = {
        "format": FORMAT,
        "number": ticket.number,
        "community": {
            "slug": community.slug,
            "name": community.name,
            "name_en": community.name_en,
            "timezone": str(labels.tz),
        },
    }
    for section in SECTIONS:
        record[section.key] = section.build(ticket, labels)
    return record


def record_rows(record: dict[str, Any], labels: Labels) -> list[tuple[Text, list[Row]]]:
    """Returns each section's heading and the rows the PDF prints, from the record
    alone (never the database): the PDF and the JSON cannot disagree."""
    return [
        (labels.text(section.title), section.rows(record[section.key], labels))
        for section in SECTIONS
    ]

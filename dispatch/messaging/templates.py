"""Template messages: each kind's named variables, cut to a provider's limits."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dispatch.messaging.summary import whole_start

ELLIPSIS = "…"

#: Every kind of message and the names of its variables, in the order the
#: templates we ship use them. A message is its kind and these variables, stored
#: on its outbox row: our own texts (console, Twilio) render them, the domestic
#: providers' approved templates receive them (a template may use fewer). No
#: variable ever carries a URL or a phone number: links are fixed in the text, a
#: job is named by its short code.
MESSAGE_KINDS: dict[str, tuple[str, ...]] = {
    "dispatch": (
        "number",
        "urgency",
        "place",
        "category",
        "problem",
        "due",
        "on_site",
        "code",
    ),
    # "then": what happens at the deadline (the backup takes it, or the officer
    # hears: a backup's reminder, or a route with none)
    "reminder": ("number", "place", "category", "due", "then", "code"),
    "job_moved": ("number", "why", "original", "code"),
    "urgency_changed": (
        "number",
        "urgency",
        "place",
        "category",
        "due",
        "on_site",
        "code",
    ),
    "resident_accepted": ("number", "contractor", "due", "code"),
    "resident_completed": ("number", "code"),
    # to a resident whose report was held in or merged into another's group (并单):
    # their own report's number, the one it was handled with, their own page
    "resident_completed_together": ("number", "original", "code"),
    "resident_follow_up": ("number", "code"),
    "resident_photo_request": ("number", "code"),
    # to a caller the officer filed for (帮办): the number and their own page
    "resident_filed": ("number", "code"),
    # to the contractor: an urgent report joined the job's group and made it urgent;
    # the place and words are that report's own
    "urgency_raised": (
        "number",
        "place",
        "problem",
        "due",
        "on_site",
        "code",
    ),
    # "ask": confirm the urgency within the hour, or, someone trapped in a lift,
    # follow the rescue now
    "officer_new_urgent": (
        "number",
        "place",
        "category",
        "problem",
        "contractor",
        "ask",
    ),
    "officer_breach": ("number", "level", "place", "clock"),
    "officer_sms_failed": ("number", "who"),
    "officer_due_soon": ("number", "place", "clock", "due"),
    "officer_pause_resumed": ("number", "place"),
    # the pause (挂起): the officer's decision, and the clock back at the expected time
    "pause_approved": ("number", "resume", "code"),
    "pause_refused": ("number", "on_site", "code"),
    "pause_resumed": ("number", "place", "due", "code"),
    # a pause asked for and waiting for the officer's decision (挂起待批)
    "officer_pause_requested": ("number", "place", "cause", "resume"),
    # the resident and followers: the work paused (why, until when, the new on-site
    # time; or, the contractor already there, when the work goes on) and resumed
    "resident_paused": ("number", "cause", "resume", "on_site", "code"),
    "resident_paused_at_work": ("number", "cause", "resume", "code"),
    "resident_resumed": ("number", "due", "code"),
    "resident_resumed_at_work": ("number", "code"),
    # the reporter and followers: nobody on site by the time they were promised
    # (the officer has been alerted by the same deadline)
    "resident_late": ("number", "on_site", "code"),
    "reply_accepted": ("number", "due", "code"),
    "reply_already": ("number", "code"),
    "reply_declined": ("number",),
    "reply_help": (),
    "reply_no_job": (),
}

#: Values of the variables that name one of a few things; an English text says
#: them in English (the domestic templates are Chinese).
ENUMERATED = {
    "urgency": {
        "紧急": "URGENT",
        "一般": "general",
        "紧急返修": "URGENT rework",
        "一般返修": "rework",
    },
    "why": {
        "驳回": "rejected",
        "重复": "duplicate",
        "备岗": "backup",
        "改派": "reassigned",
    },
    "level": {"提醒": "reminder", "督办": "escalation"},
    "then": {
        "转交备岗单位": "it goes to the backup",
        "上报社区": "the community's repair officer is told",
    },
    "ask": {
        "1小时内确认": "confirm within the hour",
        "尽快确认": "confirm promptly",
        "立即跟进救援": "follow the rescue now",
    },
    "clock": {
        "紧急程度确认": "urgency check",
        "接单": "acceptance",
        "到场": "on-site",
        # someone trapped in a lift: four characters, Tencent Cloud's limit
        "困人接单": "acceptance, someone trapped",
        "困人到场": "on-site, someone trapped",
        "热线时限": "12345 deadline",
        "回访时限": "follow-up call",
    },
    "cause": {
        "等待配件": "waiting for parts",
        "无法进入现场": "no access",
        "天气或安全": "weather or safety",
        "其他原因": "other reasons",
    },
}
#: What a job-moved message says for each reason a job was taken away.
WHY = {
    "rejected": "驳回",
    "duplicate": "重复",
    "backup": "备岗",
    "reassigned": "改派",
}
#: Why a pause was asked for, as the SMS says it: short and neutral (the
#: contractor's own words stay on the pages), each within Tencent's six characters.
PAUSE_CAUSES = {
    "parts": "等待配件",
    "access": "无法进入现场",
    "weather": "天气或安全",
    "other": "其他原因",
}

#: Variables that are free text and long; the others are short by construction.
LONG_VARIABLES = frozenset({"place", "problem", "contractor", "who", "category"})
#: A resident's closing stop, dropped where a text's own sentence goes on.
END_STOPS = "。．.，,；;、 \t\n"
#: What we keep on an outbox row before any provider's own cut.
STORED_LIMIT = 35
#: Each provider's default limit for one variable of a notification template.
PROVIDER_LIMITS = {"aliyun": 35, "tencent": 6}

#: Words providers reject in notification templates (reviews, ratings, surveys,
#: marketing), and what they must never see inside a variable.
FORBIDDEN_WORDS = (
    "评价",
    "好评",
    "差评",
    "评分",
    "打分",
    "问卷",
    "调查",
    "满意度",
    "点评",
    "星级",
    "红包",
    "优惠",
)
URL_PATTERN = re.compile(r"(https?://|www\.|\.(com|cn|net|org)\b)", re.IGNORECASE)
#: A phone number: a mainland mobile, a landline with its area code, a 400/800
#: service number, or any international number; not a lift's or a ticket's
#: registration number.
PHONE_PATTERN = re.compile(
    r"(\+\d[\d\- ]{6,}\d"
    r"|(?<!\d)1[3-9]\d[\- ]?\d{4}[\- ]?\d{4}(?!\d)"
    r"|(?<!\d)0\d{2,3}[\- ]?\d{7,8}(?!\d)"
    r"|(?<!\d)[48]00[\- ]?\d{3}[\- ]?\d{4}(?!\d))"
)
ALIYUN_VARIABLE = re.compile(r"\$\{(\w+)\}")
TENCENT_VARIABLE = re.compile(r"\{(\d+)\}")


def cut(value: str, limit: int) -> str:
    """Returns value shortened to limit characters, ending in an ellipsis if cut."""
    value = " ".join(str(value).split())
    if len(value) <= limit:
        return value
    return whole_start(value, max(0, limit - 1)) + ELLIPSIS


def is_safe_variable(value: str) -> bool:
    """Returns False when a value looks like a URL or a phone number."""
    return not (URL_PATTERN.search(value) or PHONE_PATTERN.search(value))


def clean_variables(
    kind: str, values: Mapping[str, object], limit: int = STORED_LIMIT
) -> dict[str, str]:
    """Returns the kind's variables only, as text, cut, with URLs or numbers blanked."""
    names = MESSAGE_KINDS.get(kind, ())
    cleaned = {}
    for name in names:
        text = cut("" if values.get(name) is None else str(values[name]), limit)
        # A resident may type a number or a link into a free-text field.
        if name in LONG_VARIABLES and not is_safe_variable(text):
            text = URL_PATTERN.sub("", PHONE_PATTERN.sub("…", text))
        cleaned[name] = text
    return cleaned


#: The acceptance and on-site clocks of someone trapped in a lift, as said.
TRAPPED_CLOCK_LABELS = {"contact": "困人接单", "on_site": "困人到场"}


def _ask(ticket) -> str:
    """What the officer's alert of a new urgent report asks of them: to follow the
    rescue of someone trapped, else to confirm the urgency, within the hour only
    where that is its window (an outside tester with a five-minute triage window
    was told 1小时内确认)."""
    from repair.dangers import is_lift_entrapment

    if is_lift_entrapment(ticket):
        return "立即跟进救援"
    window = (
        ticket.triage_due_at - ticket.created_at
        if ticket.triage_due_at and ticket.created_at
        else None
    )
    return "1小时内确认" if window == timedelta(hours=1) else "尽快确认"


def _clock_label(ticket, context: Mapping[str, object]) -> str:
    """Returns a clock's name as a message says it; for someone trapped in a lift,
    the acceptance and on-site clocks say so (困人接单, 困人到场)."""
    from dispatch.messaging.notify import CLOCK_LABELS
    from repair.dangers import is_lift_entrapment

    clock = str(context.get("clock"))
    if clock in ("contact", "on_site") and is_lift_entrapment(ticket):
        return TRAPPED_CLOCK_LABELS[clock]
    return CLOCK_LABELS.get(clock, "")


def variables_for(
    kind: str,
    ticket,
    context: Mapping[str, object],
    recipient=None,
) -> dict[str, str]:
    """Returns the named variables of a message about a ticket to one recipient
    (no URL, no phone): the only input of the text it becomes."""
    from dispatch.contractor.tokens import job_code, resident_code
    from dispatch.messaging.notify import (
        _rework_note,
        _short_time,
        latest_assignment,
        place_with_lift,
    )
    from repair.dangers import declared_problem
    from repair.i18n import zone_name
    from repair.models import Urgency

    tz = zone_name(ticket.community)
    contact = _short_time(ticket.contact_due_at, tz)
    on_site = _short_time(ticket.on_site_due_at, tz)
    due = on_site
    if (
        kind in ("dispatch", "reminder", "urgency_changed", "urgency_raised")
        and contact
    ):
        due = contact
    place = place_with_lift(ticket)
    if ticket.spot:
        place = f"{place} {ticket.spot}".strip()
    locale = getattr(recipient, "locale", "zh_CN") or "zh_CN"
    rework = bool(context.get("rework"))
    urgency = "紧急" if ticket.urgency is Urgency.URGENT else "一般"
    values: dict[str, object] = {
        "number": ticket.number,
        "urgency": f"{urgency}返修" if rework else urgency,
        "place": place,
        "category": ticket.category.display_name(
            "en" if locale.startswith("en") else "zh_CN"
        )
        if ticket.category
        else "",
        "problem": (
            _rework_note(ticket) or ""
            if rework
            else declared_problem(ticket, english=locale.startswith("en"))
        ),
        "due": due,
        "on_site": on_site,
        "contractor": ticket.contractor.name if ticket.contractor else "",
        "level": "督办" if context.get("supervisor") else "提醒",
        "clock": context.get("clock_label") or _clock_label(ticket, context),
        "then": "上报社区" if context.get("last") else "转交备岗单位",
        "ask": _ask(ticket),
        "who": context.get("who") or "",
        "why": WHY.get(str(context.get("why") or "reassigned"), "改派"),
        "original": context.get("original") or "",
        "code": "",
    }
    for name in ("place", "problem"):
        # what another report said: the urgent one that joined the group (并单)
        if context.get(name) is not None:
            values[name] = str(context[name])
    # The texts put their own full stop after the problem (tester: "断了一根。。").
    values["problem"] = str(values["problem"]).rstrip(END_STOPS)
    if kind == "resident_completed_together":
        # the follower's own report, handled with this ticket
        values["number"] = context.get("own_number") or ticket.number
        values["original"] = ticket.number
    if context.get("due"):
        # what the event names as due (the hotline's deadline ahead of a reminder)
        values["due"] = str(context["due"])
    if kind in (
        "pause_approved",
        "officer_pause_requested",
        "resident_paused",
        "resident_paused_at_work",
    ):
        values["resume"] = _short_time(context.get("resume_at"), tz)
        values["cause"] = PAUSE_CAUSES.get(str(context.get("cause")), "其他原因")
    if context.get("on_site_at"):
        # the on-site time a pause until the expected time will make it
        values["on_site"] = _short_time(context["on_site_at"], tz)
    recipient_type = getattr(recipient, "type", None)
    if "code" not in MESSAGE_KINDS.get(kind, ()):
        return clean_variables(kind, values)
    assignment_id = context.get("assignment_id")
    if not assignment_id and recipient_type == "contractor":
        latest = latest_assignment(ticket, recipient.id)
        assignment_id = latest.id if latest is not None else None
    if assignment_id:
        values["code"] = job_code(int(assignment_id))
    elif context.get("own_id"):
        # a follower whose own report was merged: their own tracking page
        values["code"] = resident_code(int(context["own_id"]))
    elif context.get("private") or recipient_type == "resident":
        values["code"] = resident_code(ticket.id)
    elif kind.startswith("resident_"):
        # Followers get the public page: the ticket number opens it.
        values["code"] = ticket.number
    return clean_variables(kind, values)


@dataclass(frozen=True)
class ProviderTemplate:
    """One approved template: its id at the provider and its variables' names."""

    template_id: str
    params: tuple[str, ...]
    limits: Mapping[str, int] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class ProviderTemplates:
    """A provider's approved templates by message kind (REPAIRDESK_SMS_TEMPLATES)."""

    provider: str
    templates: Mapping[str, ProviderTemplate]
    sign_name: str = ""

    def request_for(
        self, kind: str | None, variables: Mapping[str, str]
    ) -> tuple[str, dict[str, str]]:
        """Returns the template id and the variables to send, cut to the limits."""
        from dispatch.messaging.backends import PermanentSmsError

        template = self.templates.get(kind or "")
        if template is None:
            raise PermanentSmsError(
                f"no {self.provider} template for message kind {kind!r} "
                f"(add it to REPAIRDESK_SMS_TEMPLATES)"
            )
        default = PROVIDER_LIMITS.get(self.provider, STORED_LIMIT)
        params = {
            name: cut(variables.get(name, ""), template.limits.get(name, default))
            for name in template.params
        }
        return template.template_id, params


def load_templates(path: str | Path, provider: str) -> ProviderTemplates:
    """Reads a provider's template file (deploy/sms/<provider>.toml)."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    declared = data.get("provider", provider)
    if declared != provider:
        raise ValueError(f"{path} is for {declared!r}, not {provider!r}")
    templates = {}
    for kind, entry in (data.get("templates") or {}).items():
        if kind not in MESSAGE_KINDS:
            raise ValueError(f"{path}: unknown message kind {kind!r}")
        params = tuple(entry.get("params", ()))
        unknown = set(params) - set(MESSAGE_KINDS[kind])
        if unknown:
            raise ValueError(
                f"{path}: {kind} has no variable(s) {', '.join(sorted(unknown))}"
            )
        templates[kind] = ProviderTemplate(
            template_id=str(entry["template_id"]),
            params=params,
            limits=dict(entry.get("limits", {})),
            text=entry.get("text", ""),
        )
    return ProviderTemplates(provider, templates, data.get("sign_name", ""))


def lint_template_text(text: str, provider: str, params: tuple[str, ...]) -> list[str]:
    """Returns what a provider's reviewer would reject in one template text."""
    problems = [f"forbidden word {word!r}" for word in FORBIDDEN_WORDS if word in text]
    if provider == "aliyun":
        used = ALIYUN_VARIABLE.findall(text)
        expected = list(params)
    else:
        used = TENCENT_VARIABLE.findall(text)
        expected = [str(i) for i in range(1, len(params) + 1)]
    if sorted(used) != sorted(expected):
        problems.append(f"variables {used} do not match {expected}")
    for match in re.finditer(r"\S*(\$\{\w+\}|\{\d+\})\S*", text):
        token = match.group(0)
        if URL_PATTERN.search(token.replace(match.group(1), "")) and (
            "/" in token.split(match.group(1))[0]
        ):
            problems.append(f"a variable inside a link: {token!r}")
    for name in params:
        if name in ("phone", "mobile", "link", "url", "tel"):
            problems.append(f"variable {name!r} would carry a link or a number")
    return problems

"""Template messages: each kind's named variables, cut to a provider's limits."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ELLIPSIS = "…"

#: Every kind of message and the names of its variables, in the order the
#: templates we ship use them. No variable ever carries a URL or a phone number:
#: links are fixed in the approved text, a job is named by its short code.
MESSAGE_KINDS: dict[str, tuple[str, ...]] = {
    "dispatch": ("number", "urgency", "place", "due", "code"),
    "reminder": ("number", "place", "due", "code"),
    "job_moved": ("number",),
    "urgency_changed": ("number", "urgency", "due", "code"),
    "resident_accepted": ("number", "contractor", "due", "code"),
    "resident_completed": ("number", "code"),
    "resident_follow_up": ("number", "code"),
    "resident_photo_request": ("number", "code"),
    "officer_new_urgent": ("number", "place", "problem"),
    "officer_breach": ("number", "place", "clock"),
    "officer_due_soon": ("number", "place", "clock", "due"),
    "officer_sms_failed": ("number", "who"),
    "reply_accepted": ("number", "due", "code"),
    "reply_already": ("number", "code"),
    "reply_declined": ("number",),
    "reply_help": (),
    "reply_no_job": (),
    "pause_decided": ("number", "decision", "detail", "code"),
    "pause_resumed": ("number", "place", "due", "code"),
    "officer_pause_resumed": ("number", "place"),
}

#: Variables that are free text and long; the others are short by construction.
LONG_VARIABLES = frozenset({"place", "problem", "contractor", "who"})
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
PHONE_PATTERN = re.compile(r"\+?\d[\d\- ]{6,}\d")
ALIYUN_VARIABLE = re.compile(r"\$\{(\w+)\}")
TENCENT_VARIABLE = re.compile(r"\{(\d+)\}")


def cut(value: str, limit: int) -> str:
    """Returns value shortened to limit characters, ending in an ellipsis if cut."""
    value = " ".join(str(value).split())
    if len(value) <= limit:
        return value
    return value[: max(0, limit - 1)] + ELLIPSIS


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


def variables_for(
    kind: str,
    ticket,
    context: Mapping[str, object],
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """Returns the named variables of a message about a ticket (no URL, no phone)."""
    from dispatch.contractor.tokens import job_code, resident_code
    from dispatch.messaging.notify import _short_time
    from repair.i18n import zone_name
    from repair.models import Urgency

    tz = zone_name(ticket.community)
    contact = _short_time(ticket.contact_due_at, tz)
    on_site = _short_time(ticket.on_site_due_at, tz)
    due = on_site
    if kind in ("dispatch", "reminder") and contact:
        due = contact
    if context.get("due"):
        due = str(context["due"])
    place = ticket.entrance.label("zh_CN") if ticket.entrance else ""
    if ticket.spot:
        place = f"{place} {ticket.spot}".strip()
    values: dict[str, object] = {
        "number": ticket.number,
        "place": place,
        "due": due,
        "problem": ticket.description or "",
        "urgency": "紧急" if ticket.urgency is Urgency.URGENT else "一般",
        "contractor": ticket.contractor.name if ticket.contractor else "",
        "clock": context.get("clock_label") or _clock_label(context.get("clock")),
        "who": context.get("who") or "",
        "code": "",
    }
    if kind == "pause_decided":
        approved = bool(context.get("approved"))
        values["decision"] = "已批准" if approved else "未批准"
        values["detail"] = (
            f"计时暂停至{_short_time(context.get('resume_at'), tz)}"
            if approved
            else f"请于{on_site}前到场"
        )
    if context.get("assignment_id"):
        values["code"] = job_code(int(context["assignment_id"]))
    elif context.get("private"):
        values["code"] = resident_code(ticket.id)
    elif kind.startswith("resident_"):
        # Followers get the public page: the ticket number typed on /j opens it.
        values["code"] = ticket.number
    return clean_variables(kind, values)


def _clock_label(clock: object) -> str:
    from dispatch.messaging.notify import CLOCK_LABELS

    return CLOCK_LABELS.get(str(clock), "") if clock else ""


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

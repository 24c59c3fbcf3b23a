"""A hotline's mapping file (TOML): its field names, time formats and state codes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPLY_KINDS = ("accepted", "on_site", "completed", "returned", "satisfaction")


class BadWorkOrder(ValueError):
    """A pushed work order that lacks a field or has one we cannot read."""


@dataclass(frozen=True)
class WorkOrderFields:
    number: str
    content: str
    place: str
    dispatched_at: datetime | None
    due_at: datetime | None
    attachments: list[str]


@dataclass(frozen=True)
class Mapping:
    name: str
    timezone: str
    order: dict[str, str]
    formats: dict[str, Any]
    answer: dict[str, int]
    reply: dict[str, Any]
    states: dict[str, int]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _text(self, payload: dict, field: str, required: bool) -> str:
        value = payload.get(self.order[field])
        if value is None or str(value).strip() == "":
            if required:
                raise BadWorkOrder(f"{self.order[field]} is required")
            return ""
        return str(value).strip()

    def _time(self, value: str, pattern: str, name: str) -> datetime:
        try:
            return datetime.strptime(value, pattern)
        except ValueError as error:
            raise BadWorkOrder(f"{name} is not in the form {pattern}") from error

    def parse_order(self, payload: dict) -> WorkOrderFields:
        """Returns a pushed work order's fields, its times in UTC."""
        if not isinstance(payload, dict):
            raise BadWorkOrder("the body is not a JSON object")
        dispatched = self._text(payload, "dispatched_at", required=False)
        deadline = self._text(payload, "deadline", required=False)
        attachments = self._text(payload, "attachments", required=False)
        due_at = None
        if deadline:
            local = self._time(
                deadline, self.formats["deadline"], self.order["deadline"]
            )
            if self.formats.get("deadline_end_of_day"):
                local = datetime.combine(local.date() + timedelta(days=1), time())
            due_at = local.replace(tzinfo=self.zone).astimezone(UTC)
        dispatched_at = None
        if dispatched:
            local = self._time(
                dispatched, self.formats["datetime"], self.order["dispatched_at"]
            )
            dispatched_at = local.replace(tzinfo=self.zone).astimezone(UTC)
        separator = self.formats.get("attachments_separator", ",")
        return WorkOrderFields(
            number=self._text(payload, "number", required=True)[:64],
            content=self._text(payload, "content", required=True),
            place=self._text(payload, "place", required=True)[:500],
            dispatched_at=dispatched_at,
            due_at=due_at,
            attachments=[u.strip() for u in attachments.split(separator) if u.strip()],
        )

    def reply_body(
        self,
        number: str,
        kind: str,
        content: str,
        handled_at: datetime,
        attachments: list[str],
    ) -> dict:
        """Returns the JSON body of a reply in the hotline's own terms."""
        fields = self.reply
        separator = self.formats.get("attachments_separator", ",")
        local = handled_at.astimezone(self.zone)
        return {
            fields["number"]: number,
            fields["state"]: self.states[kind],
            fields["content"]: content,
            fields["handled_at"]: local.strftime(self.formats["datetime"]),
            fields["attachments"]: separator.join(attachments),
        }

    def is_reply_accepted(self, answer: Any) -> bool:
        """Returns whether the hotline's answer to a reply means it was received."""
        fields = self.reply
        return (
            isinstance(answer, dict)
            and answer.get(fields["success_field"]) is True
            and answer.get(fields["code_field"]) == fields["success_code"]
        )


def parse_mapping(data: dict, source: str = "<memory>") -> Mapping:
    """Returns the mapping in ``data``; ValueError names what is missing."""
    try:
        mapping = Mapping(
            name=data.get("name", source),
            timezone=data.get("timezone", "Asia/Shanghai"),
            order=dict(data["order"]),
            formats=dict(data["formats"]),
            answer=dict(data["answer"]),
            reply=dict(data["reply"]),
            states=dict(data["states"]),
        )
    except KeyError as error:
        raise ValueError(f"{source}: missing section {error}") from error
    for field in ("number", "content", "place", "dispatched_at", "deadline"):
        if field not in mapping.order:
            raise ValueError(f"{source}: [order] needs {field}")
    missing = [kind for kind in REPLY_KINDS if kind not in mapping.states]
    if missing:
        raise ValueError(f"{source}: [states] needs {', '.join(missing)}")
    mapping.zone  # noqa: B018  (an unknown time zone fails here, not at a push)
    return mapping


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> Mapping:
    with open(path, "rb") as file:
        return parse_mapping(tomllib.load(file), path)


def load_mapping(path: str | Path) -> Mapping:
    """Returns the mapping in the TOML file (re-read when the file changes)."""
    path = str(path)
    return _load(path, Path(path).stat().st_mtime_ns)

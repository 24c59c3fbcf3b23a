"""The Open311 GeoReport v2 server: discovery, services, and service requests in
JSON and XML, as wiki.open311.org/GeoReport_v2 defines them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from dispatch.integrations import keys, media
from dispatch.integrations.models import ApiKey, EntrancePlace
from dispatch.integrations.places import nearest_entrance
from repair import lifecycle
from repair.db import db, utcnow
from repair.i18n import current_locale, local_time
from repair.models import (
    CLOSED_STATUSES,
    ActorType,
    Category,
    Channel,
    Entrance,
    Ticket,
    TicketStatus,
)
from repair.places import find_entrance_code
from repair.security import csrf, limiter, photo_url

bp = Blueprint("open311", __name__, url_prefix="/open311")

FORMATS = ("json", "xml")
MAX_REQUESTS = 1000
MAX_RANGE = timedelta(days=90)
DESCRIPTION_LIMIT = 4000

STATUS_NOTES = {
    TicketStatus.NEW: _l("Received; waiting to be dispatched."),
    TicketStatus.DISPATCHED: _l("Sent to the maintenance company."),
    TicketStatus.ACCEPTED: _l("The maintenance company accepted the job."),
    TicketStatus.ON_SITE: _l("The repair worker is on site."),
    TicketStatus.COMPLETED: _l("Repaired; waiting for confirmation."),
    TicketStatus.CLOSED: _l("Repaired and closed."),
    TicketStatus.REJECTED: _l("Not taken up."),
    TicketStatus.DUPLICATE: _l("Merged with an earlier report of the same problem."),
}


class Open311Error(Exception):
    """An error answered as GeoReport's [{"code": …, "description": …}]."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


# --- Rendering -----------------------------------------------------------------


def _xml_element(tag: str, value: Any) -> ET.Element:
    element = ET.Element(tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            element.append(_xml_element(key, inner))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def render(fmt: str, data: Any, root: str, item: str, status: int = 200) -> Response:
    """Returns the data as JSON, or as XML with ``root`` around ``item`` elements
    (a dict is rendered as one ``root`` element)."""
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False)
        return Response(body, status, mimetype="application/json")
    if isinstance(data, list):
        top = ET.Element(root)
        for entry in data:
            top.append(_xml_element(item, entry))
    else:
        top = _xml_element(root, data)
    body = ET.tostring(top, encoding="unicode", xml_declaration=False)
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body,
        status,
        mimetype="text/xml",
    )


def _xml_list(items: list[dict], tag: str) -> dict:
    # XML needs a wrapper element per list item; JSON keeps the plain list.
    return {f"{tag}_{index}": entry for index, entry in enumerate(items)}


def render_errors(fmt: str, code: int, description: str) -> Response:
    """Returns GeoReport's error list with the HTTP status ``code``."""
    return render(
        fmt if fmt in FORMATS else "json",
        [{"code": code, "description": description}],
        "errors",
        "error",
        status=code,
    )


def _format() -> str:
    fmt = (request.view_args or {}).get("fmt", "json")
    return fmt if fmt in FORMATS else "json"


@bp.errorhandler(Open311Error)
def _open311_error(error: Open311Error):
    return render_errors(_format(), error.code, error.description)


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return render_errors(_format(), error.code or 500, error.description or "")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}: use .json or .xml")


# --- Keys ----------------------------------------------------------------------


def _rate_key() -> str:
    raw = request.values.get("api_key")
    return (
        f"open311-key:{keys.hash_key(raw)}" if raw else f"open311:{request.remote_addr}"
    )


def _key(required: bool) -> ApiKey | None:
    raw = request.values.get("api_key")
    if not raw:
        if required:
            raise Open311Error(403, "api_key is missing")
        return None
    key = keys.find_active_key(raw)
    if key is None:
        raise Open311Error(403, "api_key is not valid")
    return key


def _log_use(key: ApiKey | None, ticket_id: int | None = None) -> None:
    if key is not None:
        keys.record_use(
            key, request.method, request.path, request.remote_addr, ticket_id
        )
        db.session.commit()


def _rate_limit():
    return current_app.config["OPEN311_RATE_LIMIT"]


# --- Discovery and services ----------------------------------------------------


@bp.get("/discovery.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def discovery(fmt: str):
    """Tells clients where the GeoReport v2 endpoint is and what it speaks."""
    _check_format(fmt)
    base = current_app.config["PUBLIC_URL"]
    formats = ["application/json", "text/xml"]
    endpoint = {
        "specification": "http://wiki.open311.org/GeoReport_v2",
        "url": f"{base}/open311/v2",
        "changeset": "2026-01-01T00:00:00Z",
        "type": "production",
        "formats": formats,
    }
    data = {
        "changeset": "2026-01-01T00:00:00Z",
        "contact": current_app.config["OPEN311_AGENCY"],
        "key_service": _("API keys are issued by the administrator."),
        "endpoints": [endpoint],
    }
    if fmt == "xml":
        xml_endpoint = dict(endpoint, formats=_xml_list(formats, "format"))
        data = dict(data, endpoints={"endpoint_0": xml_endpoint})
        return _render_renamed(
            data, "discovery", {"endpoint_": "endpoint", "format_": "format"}
        )
    return render(fmt, data, "discovery", "discovery")


def _render_renamed(data: dict, root: str, renames: dict[str, str]) -> Response:
    # Renders nested dicts whose numbered keys stand for repeated elements.
    top = _xml_element(root, data)
    for element in top.iter():
        for prefix, tag in renames.items():
            if element.tag.startswith(prefix) and element.tag[len(prefix) :].isdigit():
                element.tag = tag
    body = ET.tostring(top, encoding="unicode")
    return Response(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body, mimetype="text/xml"
    )


def _categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))


def _category(code: str) -> Category:
    category = db.session.scalar(sa.select(Category).where(Category.slug == code))
    if category is None:
        raise Open311Error(404, f"no service {code!r}")
    return category


def service(category: Category, locale: str) -> dict:
    """Returns one category as a GeoReport service."""
    return {
        "service_code": category.slug,
        "service_name": category.display_name(locale),
        "description": _("Report a fault in %(name)s in a residential community.")
        % {"name": category.display_name(locale)},
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(
            dict.fromkeys([category.slug, category.name, category.name_en])
        ),
        "group": _("Public facility repair"),
    }


@bp.get("/v2/services.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def services(fmt: str):
    """Lists one service per category, named in the request's language."""
    _check_format(fmt)
    locale = current_locale()
    return render(
        fmt, [service(c, locale) for c in _categories()], "services", "service"
    )


def attributes() -> list[dict]:
    """Returns the attributes every service asks: danger and the exact spot."""
    return [
        {
            "variable": True,
            "code": "danger",
            "datatype": "singlevaluelist",
            "required": False,
            "datatype_description": _("Choose yes or no."),
            "order": 1,
            "description": _(
                "Is anyone in danger now (fire, gas, water near electricity, "
                "someone trapped)?"
            ),
            "values": [
                {"key": "yes", "name": _("Yes")},
                {"key": "no", "name": _("No")},
            ],
        },
        {
            "variable": True,
            "code": "spot",
            "datatype": "string",
            "required": False,
            "datatype_description": _("A short place description."),
            "order": 2,
            "description": _("The exact spot, e.g. handrail of the 3rd floor stairs."),
        },
    ]


@bp.get("/v2/services/<code>.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def service_definition(code: str, fmt: str):
    """Returns the attributes a request for the service may carry."""
    _check_format(fmt)
    category = _category(code)
    attrs = attributes()
    data = {"service_code": category.slug, "attributes": attrs}
    if fmt == "xml":
        xml_attrs = []
        for attr in attrs:
            xml_attr = dict(attr)
            if "values" in attr:
                xml_attr["values"] = _xml_list(attr["values"], "value")
            xml_attrs.append(xml_attr)
        data = dict(data, attributes=_xml_list(xml_attrs, "attribute"))
        return _render_renamed(
            data, "service_definition", {"attribute_": "attribute", "value_": "value"}
        )
    return render(fmt, data, "service_definition", "service_definition")


# --- Requests ------------------------------------------------------------------


def _float(name: str) -> float | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as error:
        raise Open311Error(400, f"{name} is not a number") from error


def _place(key: ApiKey) -> Entrance:
    allowed = keys.community_ids(key)
    address_id = request.form.get("address_id", "").strip()
    if address_id:
        known = find_entrance_code(address_id)
        if (
            known is None
            or known.retired_at is not None
            or known.entrance.retired_at is not None
        ):
            raise Open311Error(400, f"address_id {address_id!r} is not known")
        if known.entrance.community.id not in allowed:
            raise Open311Error(403, "the api_key may not report at this address_id")
        return known.entrance
    lat, long = _float("lat"), _float("long")
    if lat is None or long is None:
        raise Open311Error(400, "a location is required: address_id, or lat and long")
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        raise Open311Error(400, "lat/long are out of range")
    limit = float(current_app.config["OPEN311_MAX_DISTANCE_METRES"])
    entrance = nearest_entrance(lat, long, allowed, limit)
    if entrance is None:
        raise Open311Error(
            400, f"no entrance within {limit:g} m of {lat},{long}: give an address_id"
        )
    return entrance


def _phone(value: str | None) -> str | None:
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@bp.post("/v2/requests.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def create_request(fmt: str):
    """Creates a ticket through the lifecycle, as a sticker report does."""
    _check_format(fmt)
    key = _key(required=True)
    code = request.form.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    category = _category(code)
    entrance = _place(key)
    form = request.form
    description = (form.get("description") or "").strip()[:DESCRIPTION_LIMIT]
    spot = (form.get("attribute[spot]") or "").strip()[:200]
    if form.get("attribute[danger]") == "yes":
        description = f"{description}\n{_('The reporter says someone is in danger.')}"
    description = description.strip() or category.display_name("zh_CN")
    name = " ".join(
        part.strip() for part in (form.get("first_name"), form.get("last_name")) if part
    )[:64]
    report = lifecycle.Report(
        entrance=entrance,
        spot=spot,
        description=description,
        category=category,
        reporter_name=name or None,
        reporter_phone=_phone(form.get("phone")),
        reporter_locale=current_locale(),
    )
    actor = lifecycle.Actor(ActorType.RESIDENT, Channel.OPEN311, name=key.name)
    ticket = lifecycle.open_ticket(report, actor)
    media_url = (form.get("media_url") or "").strip()
    if media_url:
        media.queue_media(ticket, [media_url])
    keys.record_use(key, request.method, request.path, request.remote_addr, ticket.id)
    db.session.commit()
    answer = {
        "service_request_id": ticket.number,
        "service_notice": _("Your report is number %(number)s.")
        % {"number": ticket.number},
    }
    return render(fmt, [answer], "service_requests", "request")


def _iso(value: datetime | None, tz: str) -> str | None:
    if value is None:
        return None
    return local_time(value, tz).isoformat(timespec="seconds")


def request_record(
    ticket: Ticket, locale: str, place: EntrancePlace | None, private: bool
) -> dict:
    """Returns a ticket as a GeoReport service request; without ``private`` (a key
    for its community), no description and no photos. Never a name or phone."""
    tz = ticket.community.timezone
    record: dict[str, Any] = {
        "service_request_id": ticket.number,
        "status": "closed" if ticket.status in CLOSED_STATUSES else "open",
        "status_notes": str(STATUS_NOTES[ticket.status]),
        "service_name": ticket.category.display_name(locale)
        if ticket.category
        else None,
        "service_code": ticket.category.slug if ticket.category else "other",
        "agency_responsible": ticket.contractor.name
        if ticket.contractor
        else ticket.community.display_name(locale),
        "requested_datetime": _iso(ticket.created_at, tz),
        "updated_datetime": _iso(ticket.updated_at, tz),
        "expected_datetime": _iso(ticket.next_due_at, tz),
    }
    if ticket.entrance is not None:
        record["address"] = ticket.entrance.label(locale)
        record["address_id"] = ticket.entrance.code
    if place is not None and place.lat is not None and place.long is not None:
        record["lat"], record["long"] = place.lat, place.long
    if private:
        record["description"] = ticket.description[:DESCRIPTION_LIMIT]
        photos = ticket.completion_photos or ticket.report_photos
        if photos:
            # signed and expiring as on our own pages: the bare address answered
            # 404 to every client (outside tester)
            record["media_url"] = current_app.config["PUBLIC_URL"] + photo_url(
                photos[0], "display"
            )
    # The published schemas have no nulls: optional fields are left out instead.
    return {name: value for name, value in record.items() if value is not None}


def _records(tickets: list[Ticket], key: ApiKey | None) -> list[dict]:
    locale = current_locale()
    allowed = set(keys.community_ids(key)) if key else set()
    entrance_ids = [t.entrance_id for t in tickets if t.entrance_id]
    places = {
        p.entrance_id: p
        for p in db.session.scalars(
            sa.select(EntrancePlace).where(EntrancePlace.entrance_id.in_(entrance_ids))
        )
    }
    return [
        request_record(t, locale, places.get(t.entrance_id), t.community_id in allowed)
        for t in tickets
    ]


def _date(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise Open311Error(400, f"{name} is not a W3C date-time") from error
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time zone, e.g. 2026-01-01T00:00:00Z")
    return parsed


def _split(name: str) -> list[str]:
    return [v.strip() for v in request.args.get(name, "").split(",") if v.strip()]


@bp.get("/v2/requests.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def list_requests(fmt: str):
    """Lists requests by ids, or by service, dates (≤ 90 days) and status."""
    _check_format(fmt)
    key = _key(required=False)
    query = sa.select(Ticket)
    ids = _split("service_request_id")
    if ids:
        query = query.where(Ticket.number.in_([i.upper() for i in ids]))
    else:
        end = _date("end_date")
        start = _date("start_date")
        if end is None:
            end = (start + MAX_RANGE) if start else utcnow()
        if start is None:
            start = end - MAX_RANGE
        if end < start or end - start > MAX_RANGE:
            raise Open311Error(400, "start_date to end_date may span at most 90 days")
        query = query.where(Ticket.created_at >= start, Ticket.created_at <= end)
        codes = _split("service_code")
        if codes:
            query = query.join(Ticket.category).where(Category.slug.in_(codes))
        statuses = set(_split("status"))
        if statuses - {"open", "closed"}:
            raise Open311Error(400, "status is open or closed")
        if statuses == {"open"}:
            query = query.where(Ticket.status.not_in(CLOSED_STATUSES))
        elif statuses == {"closed"}:
            query = query.where(Ticket.status.in_(CLOSED_STATUSES))
    tickets = list(
        db.session.scalars(
            query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(
                MAX_REQUESTS
            )
        )
    )
    records = _records(tickets, key)
    _log_use(key)
    return render(fmt, records, "service_requests", "request")


@bp.get("/v2/requests/<number>.<fmt>")
@limiter.limit(_rate_limit, key_func=_rate_key)
def get_request(number: str, fmt: str):
    """Returns one request (as a list of one, as the specification says)."""
    _check_format(fmt)
    key = _key(required=False)
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number.upper()))
    if ticket is None:
        raise Open311Error(404, f"no service request {number!r}")
    records = _records([ticket], key)
    _log_use(key, ticket.id)
    return render(fmt, records, "service_requests", "request")


def init_app(app: Flask) -> None:
    """Registers the GeoReport v2 endpoints (no CSRF: clients authenticate by key)."""
    csrf.exempt(bp)
    app.register_blueprint(bp)

"""The resident's pages: QR landing and report form, confirmation, tracking."""

from __future__ import annotations

import uuid

import phonenumbers
import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from repair import lifecycle
from repair.db import db
from repair.i18n import current_locale
from repair.models import ActorType, Category, Channel, Entrance, Ticket
from repair.places import find_entrance_code
from repair.security import csrf, limiter
from repair.uploads import ACCEPT_ATTRIBUTE, PhotoUploads, finish_upload

bp = Blueprint("resident", __name__)

SESSION_TICKETS = "my_tickets"


def validate_phone(form, field) -> None:
    """Accepts a mainland mobile or any international number; stores E.164."""
    if not field.data:
        return
    try:
        number = phonenumbers.parse(field.data, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _l("Please enter a valid phone number, e.g. 138 0013 8000.")
        )
    field.data = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class ReportForm(FlaskForm):
    photos = MultipleFileField(_l("Photos"))
    kept_photos = HiddenField()
    spot = StringField(
        _l("Exact spot"),
        validators=[Optional(), Length(max=200)],
        filters=[lambda value: value.strip() if value else value],
    )
    description = TextAreaField(
        _l("What is wrong?"),
        validators=[
            DataRequired(_l("Please describe the problem.")),
            Length(max=2000),
        ],
        filters=[lambda value: value.strip() if value else value],
    )
    category = RadioField(_l("Category (optional)"), validate_choice=False)
    phone = TelField(
        _l("Phone for progress SMS (optional)"), validators=[Optional(), validate_phone]
    )
    name = StringField(
        _l("Your name (optional)"), validators=[Optional(), Length(max=64)]
    )
    submission_key = HiddenField()


def _categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))


@bp.route("/q/<code>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBMIT_RATE_LIMIT"], methods=["POST"])
def report(code: str):
    """Shows the report form for an entrance and turns a valid post into a ticket."""
    known = find_entrance_code(code)
    if known is None:
        return render_template("resident/unknown_code.html"), 404
    entrance = known.entrance
    g.timezone = entrance.community.timezone
    if known.retired_at is not None:
        return render_template("resident/replaced_code.html", entrance=entrance), 410

    form = ReportForm()
    categories = _categories()
    form.category.choices = [
        (c.slug, c.display_name(current_locale())) for c in categories
    ]
    if request.method == "GET":
        form.submission_key.data = uuid.uuid4().hex
        return render_template(
            "resident/report.html",
            form=form,
            entrance=entrance,
            kept=[],
            photo_errors=[],
            accept=ACCEPT_ATTRIBUTE,
        )

    existing = _ticket_for_submission(form.submission_key.data)
    if existing is not None:
        return _submitted(existing)

    uploads = PhotoUploads(
        form.kept_photos.data, int(current_app.config["PHOTOS_PER_TICKET"])
    )
    uploads.take(request.files.getlist("photos"))
    fields_ok = form.validate()
    uploads.require_one(_l("Please add at least one photo that shows the spot."))
    if not fields_ok or uploads.errors:
        form.kept_photos.data = uploads.token()
        page = render_template(
            "resident/report.html",
            form=form,
            entrance=entrance,
            photo_errors=uploads.errors,
            kept=uploads.previews(),
            accept=ACCEPT_ATTRIBUTE,
        )
        return page, 422

    category = next((c for c in categories if c.slug == form.category.data), None)
    ticket = _open(entrance, form, category, uploads)
    if ticket is None:
        ticket = _ticket_for_submission(form.submission_key.data)
        if ticket is None:
            abort(409)
    return _submitted(ticket)


def _open(
    entrance: Entrance, form: ReportForm, category, uploads: PhotoUploads
) -> Ticket | None:
    report = lifecycle.Report(
        entrance=entrance,
        spot=form.spot.data or "",
        description=form.description.data,
        category=category,
        reporter_name=form.name.data or None,
        reporter_phone=form.phone.data or None,
        reporter_locale=current_locale(),
        submission_key=form.submission_key.data or None,
    )
    actor = lifecycle.Actor(ActorType.RESIDENT, Channel.QR, name=form.name.data or None)
    try:
        ticket = lifecycle.open_ticket(report, actor)
        uploads.attach(ticket, "report")
        db.session.commit()
    except IntegrityError:
        # The same form was submitted twice at once; the other request won.
        db.session.rollback()
        return None
    return ticket


def _ticket_for_submission(key: str | None) -> Ticket | None:
    if not key:
        return None
    return db.session.scalar(sa.select(Ticket).where(Ticket.submission_key == key))


def _submitted(ticket: Ticket):
    mine = session.get(SESSION_TICKETS, {})
    mine[ticket.number] = ticket.resident_key
    session[SESSION_TICKETS] = dict(list(mine.items())[-20:])
    return finish_upload(url_for("resident.received", number=ticket.number))


def _ticket_or_404(number: str) -> Ticket:
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number.upper()))
    if ticket is None:
        abort(404)
    g.timezone = ticket.community.timezone
    return ticket


@bp.get("/t/<number>/received")
def received(number: str):
    """Confirms a submission: the number, large, and the links to follow it."""
    ticket = _ticket_or_404(number)
    key = session.get(SESSION_TICKETS, {}).get(ticket.number)
    if key != ticket.resident_key:
        return redirect(url_for("resident.track", number=ticket.number))
    private_url = url_for(
        "resident.track", number=ticket.number, k=ticket.resident_key, _external=False
    )
    return render_template(
        "resident/received.html",
        ticket=ticket,
        public_url=current_app.config["PUBLIC_URL"],
        private_url=private_url,
    )


@bp.get("/t/<number>")
def track(number: str):
    """Shows a ticket's public progress: place, problem, photos, timeline."""
    ticket = _ticket_or_404(number)
    return render_template("resident/track.html", ticket=ticket)


def init_app(app: Flask) -> None:
    """Registers the resident pages; their forms carry their own CSRF field.

    The global CSRF check is lifted for this blueprint so that an expired token
    becomes a form error that keeps everything typed, not a bare 400 page.
    """
    csrf.exempt(bp)
    app.register_blueprint(bp)

"""The resident's pages: QR landing and report form, confirmation, tracking."""

from __future__ import annotations

import hmac
import uuid
from datetime import timedelta

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
from sqlalchemy.exc import IntegrityError
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from repair import lifecycle
from repair.db import db, utcnow
from repair.i18n import current_locale
from repair.models import (
    ActorType,
    Category,
    Channel,
    Entrance,
    Rating,
    Ticket,
    TicketFollower,
    TicketStatus,
)
from repair.photos.uploads import ACCEPT_ATTRIBUTE, PhotoUploads, finish_upload
from repair.places import find_entrance_code
from repair.security import SafeForm, checks_own_input, csrf, limiter

bp = Blueprint("resident", __name__)
WORKING = (
    TicketStatus.NEW,
    TicketStatus.DISPATCHED,
    TicketStatus.ACCEPTED,
    TicketStatus.ON_SITE,
)


def _strip(value):
    return value.strip() if value else value


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


class ReportForm(SafeForm):
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
    submission_key = HiddenField(
        validators=[
            Optional(),
            Regexp(
                r"^[0-9a-f]{32}$",
                message=_l("The form was damaged in transit; please press Send again."),
            ),
        ]
    )


def _categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))


@bp.route("/q/<code>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBMIT_RATE_LIMIT"], methods=["POST"])
@checks_own_input
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
            nearby=reported_nearby(entrance, int(current_app.config["ME_TOO_DAYS"])),
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
        if form.submission_key.errors:
            form.submission_key.data = uuid.uuid4().hex
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
    if not key or len(key) > 64:
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
    """Shows a ticket's progress; with the private key, also the resident's actions."""
    ticket = _ticket_or_404(number)
    return _track_page(ticket)


def _track_page(ticket: Ticket, not_fixed_form=None, rating_form=None, uploads=None):
    key = request.values.get("k")
    owner = has_resident_key(ticket, key)
    return render_template(
        "resident/track.html",
        ticket=ticket,
        owner=owner,
        key=key if owner else None,
        action_form=ResidentActionForm(k=key),
        not_fixed_form=not_fixed_form or NotFixedForm(k=key),
        rating_form=rating_form or RatingForm(k=key),
        photo_errors=uploads.errors if uploads else [],
        kept=uploads.previews() if uploads else [],
        accept=ACCEPT_ATTRIBUTE,
        followed=request.args.get("followed") == "1",
    )


def init_app(app: Flask) -> None:
    """Registers the resident pages; their forms carry their own CSRF field.

    The global CSRF check is lifted for this blueprint so that an expired token
    becomes a form error that keeps everything typed, not a bare 400 page.
    """
    csrf.exempt(bp)
    app.register_blueprint(bp)


class ResidentActionForm(SafeForm):
    """Confirm, not fixed, rate: each carries the resident's private key."""

    k = HiddenField()


class NotFixedForm(ResidentActionForm):
    note = TextAreaField(
        _l("What is still wrong?"),
        validators=[
            DataRequired(_l("Please say what is still wrong.")),
            Length(max=2000),
        ],
        filters=[_strip],
    )
    photos = MultipleFileField(_l("Photo (optional)"))
    kept_photos = HiddenField()


class RatingForm(ResidentActionForm):
    stars = RadioField(
        _l("How satisfied are you?"),
        choices=[SelectChoice(str(n), str(n)) for n in range(5, 0, -1)],
        validators=[DataRequired(_l("Please choose 1 to 5 stars."))],
    )
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[Optional(), Length(max=1000)],
        filters=[_strip],
    )


def has_resident_key(ticket: Ticket, key: str | None) -> bool:
    """Returns whether ``key`` is the ticket's private resident key."""
    return bool(key) and hmac.compare_digest(
        key.encode("utf-8", "surrogatepass"), ticket.resident_key.encode()
    )


def _resident_actor(ticket: Ticket) -> lifecycle.Actor:
    return lifecycle.Actor(
        ActorType.RESIDENT, Channel.TRACKING, name=ticket.reporter_name
    )


def _private(ticket: Ticket, anchor: str = ""):
    target = url_for("resident.track", number=ticket.number, k=ticket.resident_key)
    return redirect(target + anchor, code=303)


@bp.post("/t/<number>/confirm")
def confirm(number: str):
    """The resident confirms the repair: the ticket closes; a rating is asked next."""
    ticket = _ticket_or_404(number)
    form = ResidentActionForm()
    if not form.validate_on_submit() or not has_resident_key(ticket, form.k.data):
        abort(403)
    if ticket.status is TicketStatus.COMPLETED:
        now = utcnow()
        lifecycle.transition(
            ticket,
            "close",
            _resident_actor(ticket),
            now,
            data={"confirmed_by_resident": True},
            closed_at=now,
        )
        db.session.commit()
    return _private(ticket, "#rate")


@bp.post("/t/<number>/not-fixed")
@checks_own_input
def not_fixed(number: str):
    """The resident says it is not fixed: the ticket reopens and goes out again."""
    ticket = _ticket_or_404(number)
    form = NotFixedForm()
    if not has_resident_key(ticket, form.k.data):
        abort(403)
    if not lifecycle.can(ticket, "reopen"):
        return _private(ticket)
    uploads = PhotoUploads(form.kept_photos.data, 3)
    uploads.take(request.files.getlist("photos"))
    if not form.validate_on_submit() or uploads.errors:
        form.kept_photos.data = uploads.token()
        return _track_page(ticket, not_fixed_form=form, uploads=uploads), 422
    uploads.attach(ticket, "reopen")
    lifecycle.reopen(
        ticket,
        _resident_actor(ticket),
        note=form.note.data,
        data={"by_resident": True, "photos": len(uploads.kept)},
    )
    db.session.commit()
    return finish_upload(
        url_for("resident.track", number=ticket.number, k=ticket.resident_key)
    )


@bp.post("/t/<number>/rate")
@checks_own_input
def rate(number: str):
    """The resident rates a confirmed repair, once."""
    ticket = _ticket_or_404(number)
    form = RatingForm()
    if not has_resident_key(ticket, form.k.data):
        abort(403)
    if ticket.rating is not None or ticket.status is not TicketStatus.CLOSED:
        return _private(ticket)
    if not form.validate_on_submit():
        return _track_page(ticket, rating_form=form), 422
    stars = int(form.stars.data)
    db.session.add(
        Rating(ticket_id=ticket.id, stars=stars, comment=form.comment.data or None)
    )
    lifecycle.record_event(
        ticket, "rated", _resident_actor(ticket), data={"stars": stars}
    )
    db.session.commit()
    return _private(ticket, "#rate")


class FollowForm(SafeForm):
    phone = TelField(
        _l("Phone for progress SMS (optional)"), validators=[Optional(), validate_phone]
    )


SESSION_FOLLOWED = "followed"


@bp.route("/t/<number>/follow", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SUBMIT_RATE_LIMIT"], methods=["POST"])
@checks_own_input
def follow(number: str):
    """ "This is my problem too": the resident is counted on an existing ticket."""
    ticket = _ticket_or_404(number)
    form = FollowForm()
    followed = session.get(SESSION_FOLLOWED, [])
    if ticket.status not in lifecycle.OPEN:
        return redirect(url_for("resident.track", number=ticket.number))
    if form.validate_on_submit():
        phone = form.phone.data or None
        known = phone is not None and any(f.phone == phone for f in ticket.followers)
        if ticket.number not in followed and not known:
            db.session.add(
                TicketFollower(
                    ticket_id=ticket.id, phone=phone, locale=current_locale()
                )
            )
            lifecycle.record_event(
                ticket,
                "me_too",
                lifecycle.Actor(ActorType.RESIDENT, Channel.QR),
                data={"with_phone": phone is not None},
            )
            db.session.commit()
            session[SESSION_FOLLOWED] = (followed + [ticket.number])[-50:]
        return redirect(
            url_for("resident.track", number=ticket.number, followed=1), code=303
        )
    status = 422 if request.method == "POST" else 200
    return render_template(
        "resident/follow.html",
        ticket=ticket,
        form=form,
        already=ticket.number in followed,
    ), status


def reported_nearby(entrance: Entrance, days: int) -> list[Ticket]:
    """Returns open tickets reported at the entrance in the last ``days`` days."""
    since = utcnow() - timedelta(days=days)
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(
                Ticket.entrance_id == entrance.id,
                Ticket.status.in_(WORKING),
                Ticket.created_at >= since,
            )
            .order_by(Ticket.created_at.desc())
            .limit(5)
        )
    )

"""Administration of each community's SLA durations."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _

from dispatch.admin.blueprint import bp, done, form_page
from dispatch.admin.forms import SlaForm
from dispatch.board.auth import admin_only
from dispatch.models import SlaPolicy
from dispatch.sla.escalation import policy_for
from repair.config import parse_duration
from repair.db import db
from repair.models import Community

#: The SLA clocks an administrator sets: (form field, SlaPolicy column, setting).
SLA_CLOCKS = (
    ("triage", "triage_seconds", "SLA_TRIAGE"),
    ("urgent_contact", "urgent_contact_seconds", "SLA_URGENT_CONTACT"),
    ("urgent_on_site", "urgent_on_site_seconds", "SLA_URGENT_ON_SITE"),
    ("general_on_site", "general_on_site_seconds", "SLA_GENERAL_ON_SITE"),
)


def duration_setting(value: timedelta | int | None) -> str:
    """Returns a duration as a setting is written ('45s', '30m', '2h'), in the
    largest whole unit: what `repair.config.parse_duration` reads back."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@bp.route("/communities/<int:community_id>/sla", methods=["GET", "POST"])
@admin_only
def sla(community_id: int):
    """The community's own SLA durations; an empty field uses the global setting."""
    community = db.get_or_404(Community, community_id)
    policy = db.session.get(SlaPolicy, community.id)
    form = SlaForm(
        data={
            field: duration_setting(getattr(policy, column, None))
            for field, column, _setting in SLA_CLOCKS
        }
    )
    if form.validate_on_submit():
        if policy is None:
            policy = SlaPolicy(community_id=community.id)
            db.session.add(policy)
        for field, column, _setting in SLA_CLOCKS:
            value = form[field].data
            seconds = int(parse_duration(value).total_seconds()) if value else None
            setattr(policy, column, seconds)
        db.session.commit()
        return done(
            _("SLA policy saved; it applies to new tickets."),
            "admin.sla",
            community_id=community.id,
        )
    effective = policy_for(community.id)
    config = current_app.config
    clocks = [
        {
            "field": form[field],
            "default": duration_setting(config[setting]),
            "effective": duration_setting(getattr(effective, field)),
        }
        for field, _column, setting in SLA_CLOCKS
    ]
    return form_page("board/admin/sla.html", form, community=community, clocks=clocks)

"""Administration of contractors: their details, the communities they serve and the
routes that use them."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from dispatch.admin.blueprint import (
    all_categories,
    all_communities,
    all_contractors,
    bp,
    done,
    form_page,
)
from dispatch.admin.forms import LANGUAGE_LABELS, ContractorForm
from dispatch.board.auth import admin_only
from dispatch.models import Route
from repair.db import db
from repair.i18n import current_locale
from repair.models import Building, Community, Contractor, Entrance


@bp.get("/contractors")
@admin_only
def contractors():
    """Every contractor with the routes that send them work."""
    uses: dict[int, list[tuple[Route, str]]] = {}
    for route in db.session.scalars(sa.select(Route)):
        uses.setdefault(route.primary_contractor_id, []).append((route, "primary"))
        if route.backup_contractor_id:
            uses.setdefault(route.backup_contractor_id, []).append((route, "backup"))
    return render_template(
        "board/admin/contractors.html",
        contractors=all_contractors(),
        uses=uses,
        communities={c.id: c for c in all_communities()},
        categories={c.id: c for c in all_categories()},
        buildings={b.id: b for b in db.session.scalars(sa.select(Building))},
        places={
            p.id: p
            for p in db.session.scalars(
                sa.select(Entrance).where(
                    Entrance.id.in_(
                        sa.select(Route.entrance_id).where(
                            Route.entrance_id.isnot(None)
                        )
                    )
                )
            )
        },
        languages=LANGUAGE_LABELS,
    )


def _community_choices(form: ContractorForm, contractor: Contractor | None) -> None:
    communities = all_communities()
    form.communities.choices = [
        SelectChoice(c.id, c.display_name(current_locale())) for c in communities
    ]
    if form.is_submitted():
        return
    if contractor is not None:
        form.communities.data = [c.id for c in contractor.communities]
    elif len(communities) == 1:
        form.communities.data = [communities[0].id]  # the only one it can serve


def _save(form: ContractorForm, contractor: Contractor) -> None:
    for name in ("name", "contact_name", "phone", "language", "is_active"):
        getattr(form, name).populate_obj(contractor, name)
    contractor.contact_name = contractor.contact_name or None
    contractor.communities = list(
        db.session.scalars(
            sa.select(Community).where(Community.id.in_(form.communities.data))
        )
    )


@bp.route("/contractors/new", methods=["GET", "POST"])
@admin_only
def new_contractor():
    """Adds a contractor serving some communities; their routes then send it work."""
    form = ContractorForm()
    _community_choices(form, None)
    if form.validate_on_submit():
        contractor = Contractor()
        _save(form, contractor)
        db.session.add(contractor)
        db.session.commit()
        return done(
            _("Contractor %(name)s added.", name=contractor.name), "admin.contractors"
        )
    return form_page("board/admin/contractor.html", form, contractor=None)


@bp.route("/contractors/<int:contractor_id>", methods=["GET", "POST"])
@admin_only
def contractor(contractor_id: int):
    """Edits a contractor's name, contact, phone, language, active flag and the
    communities it serves."""
    contractor = db.get_or_404(Contractor, contractor_id)
    form = ContractorForm(obj=contractor)
    form.editing_id = contractor.id
    _community_choices(form, contractor)
    if form.validate_on_submit():
        _save(form, contractor)
        db.session.commit()
        return done(
            _("Contractor %(name)s saved.", name=contractor.name), "admin.contractors"
        )
    return form_page("board/admin/contractor.html", form, contractor=contractor)

"""Administration of contractors: their details and the routes that use them."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext as _

from dispatch.admin.blueprint import (
    all_categories,
    all_communities,
    all_contractors,
    bp,
    done,
    form_page,
    save_form,
)
from dispatch.admin.forms import LANGUAGE_LABELS, ContractorForm
from dispatch.board.auth import admin_only
from dispatch.models import Route
from repair.db import db
from repair.models import Building, Contractor


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
        languages=LANGUAGE_LABELS,
    )


@bp.route("/contractors/new", methods=["GET", "POST"])
@admin_only
def new_contractor():
    """Adds a contractor; routes then send them work."""
    form = ContractorForm()
    if form.validate_on_submit():
        contractor = Contractor()
        save_form(form, contractor, "contact_name")
        db.session.add(contractor)
        db.session.commit()
        return done(
            _("Contractor %(name)s added.", name=contractor.name), "admin.contractors"
        )
    return form_page("board/admin/contractor.html", form, contractor=None)


@bp.route("/contractors/<int:contractor_id>", methods=["GET", "POST"])
@admin_only
def contractor(contractor_id: int):
    """Edits a contractor's name, contact, phone, language and active flag."""
    contractor = db.get_or_404(Contractor, contractor_id)
    form = ContractorForm(obj=contractor)
    form.editing_id = contractor.id
    if form.validate_on_submit():
        save_form(form, contractor, "contact_name")
        db.session.commit()
        return done(
            _("Contractor %(name)s saved.", name=contractor.name), "admin.contractors"
        )
    return form_page("board/admin/contractor.html", form, contractor=contractor)

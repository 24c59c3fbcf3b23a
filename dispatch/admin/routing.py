"""Administration of routing: category names and the routes that pick contractors."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from dispatch.admin.blueprint import (
    all_categories,
    all_contractors,
    bp,
    done,
)
from dispatch.admin.forms import CategoryForm, ConfirmForm, RouteForm
from dispatch.assignment.routes import route_for
from dispatch.board.auth import admin_only
from dispatch.models import Route
from repair.db import db
from repair.i18n import current_locale, localised_name
from repair.models import Category, Community, Ticket


@bp.get("/categories")
@admin_only
def categories():
    """The categories with their Chinese and English names."""
    return _categories_page()


def _categories_page(failed: tuple[int, CategoryForm] | None = None):
    forms = {c.id: CategoryForm(formdata=None, obj=c) for c in all_categories()}
    if failed is not None:
        forms[failed[0]] = failed[1]
    return (
        render_template(
            "board/admin/categories.html",
            categories=all_categories(),
            forms=forms,
            failed=failed[0] if failed else None,
        ),
        422 if failed else 200,
    )


@bp.post("/categories/<int:category_id>")
@admin_only
def edit_category(category_id: int):
    """Renames a category (its slug, which the classifier uses, stays)."""
    category = db.get_or_404(Category, category_id)
    form = CategoryForm()
    if not form.validate():
        return _categories_page((category.id, form))
    form.populate_obj(category)
    db.session.commit()
    return done(
        _("Category saved."), "admin.categories", _anchor=f"category-{category.id}"
    )


def _route_form(community: Community, formdata=None) -> RouteForm:
    form = RouteForm() if formdata is None else RouteForm(formdata=formdata)
    locale = current_locale()
    form.category.choices = [SelectChoice("", _("Every category"))] + [
        SelectChoice(str(c.id), c.display_name(locale)) for c in all_categories()
    ]
    # A building's id as it always was; a common area's as "place-<id>".
    form.building.choices = (
        [SelectChoice("", _("Every building"))]
        + [
            SelectChoice(str(b.id), localised_name(b.name, b.name_en, locale))
            for b in community.buildings
        ]
        + [
            SelectChoice(f"place-{p.id}", localised_name(p.name, p.name_en, locale))
            for p in community.common_areas
            if p.retired_at is None
        ]
    )
    # Only the community's own contractors may be named (one may serve several).
    serving = [c for c in all_contractors() if c.is_active and c.serves(community.id)]
    form.allowed_contractors = frozenset(str(c.id) for c in serving)
    form.primary.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(c.id), c.name) for c in serving
    ]
    form.backup.choices = [SelectChoice("", _("No backup"))] + [
        SelectChoice(str(c.id), c.name) for c in serving
    ]
    return form


def _routes(community_id: int) -> list[Route]:
    routes = db.session.scalars(
        sa.select(Route).where(Route.community_id == community_id)
    ).all()
    categories = {c.id: c.sort_order for c in all_categories()}
    return sorted(
        routes,
        key=lambda r: (
            r.category_id is not None,
            categories.get(r.category_id, 0),
            r.building_id is not None or r.entrance_id is not None,
            r.building_id or 0,
            r.entrance_id or 0,
        ),
    )


def _routes_page(community: Community, form: RouteForm, status: int = 200):
    categories = all_categories()
    # Where a report from an entrance of no particular building rule would go.
    outcome = [
        (
            category,
            route_for(Ticket(community_id=community.id, category_id=category.id)),
        )
        for category in categories
    ]
    return (
        render_template(
            "board/admin/routes.html",
            community=community,
            routes=_routes(community.id),
            categories={c.id: c for c in categories},
            buildings={b.id: b for b in community.buildings},
            places={p.id: p for p in community.common_areas},
            outcome=outcome,
            form=form,
            delete_form=ConfirmForm(formdata=None),
        ),
        status,
    )


@bp.route("/communities/<int:community_id>/routes", methods=["GET", "POST"])
@admin_only
def routes(community_id: int):
    """The community's routes; saving one for an existing scope replaces it."""
    community = db.get_or_404(Community, community_id)
    form = _route_form(community)
    if not form.validate_on_submit():
        return _routes_page(community, form, 422 if form.is_submitted() else 200)
    category_id = int(form.category.data) if form.category.data else None
    where = form.building.data or ""
    entrance_id = (
        int(where.removeprefix("place-")) if where.startswith("place-") else None
    )
    building_id = int(where) if where and entrance_id is None else None
    route = db.session.scalar(
        sa.select(Route).where(
            Route.community_id == community.id,
            Route.category_id.is_(None)
            if category_id is None
            else Route.category_id == category_id,
            Route.building_id.is_(None)
            if building_id is None
            else Route.building_id == building_id,
            Route.entrance_id.is_(None)
            if entrance_id is None
            else Route.entrance_id == entrance_id,
        )
    )
    if route is None:
        route = Route(
            community_id=community.id,
            category_id=category_id,
            building_id=building_id,
            entrance_id=entrance_id,
        )
        db.session.add(route)
    route.primary_contractor_id = int(form.primary.data)
    route.backup_contractor_id = int(form.backup.data) if form.backup.data else None
    db.session.commit()
    return done(_("Route saved."), "admin.routes", community_id=community.id)


@bp.post("/routes/<int:route_id>/delete")
@admin_only
def delete_route(route_id: int):
    """Deletes a route; its reports fall back to a less specific one."""
    route = db.get_or_404(Route, route_id)
    community_id = route.community_id
    if ConfirmForm().validate_on_submit():
        db.session.delete(route)
        db.session.commit()
        flash(_("Route deleted."), "ok")
    return redirect(url_for("admin.routes", community_id=community_id), code=303)

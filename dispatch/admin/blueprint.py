"""The administration blueprint and what its pages share: lists, answers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm

from repair.db import db
from repair.models import Category, Community, Contractor

bp = Blueprint("admin", __name__, url_prefix="/board/admin")


def done(message: str, endpoint: str, **values):
    """Flashes a success and redirects (303) to the endpoint."""
    flash(message, "ok")
    return redirect(url_for(endpoint, **values), code=303)


def form_page(template: str, form: FlaskForm, **context):
    """Renders a form's page; a failed POST answers 422 with the typed values and
    the messages."""
    status = 422 if form.is_submitted() else 200
    return render_template(template, form=form, **context), status


def save_form(form: FlaskForm, obj, *optional: str) -> None:
    """Copies the form's fields onto ``obj``; empty optional fields become NULL."""
    form.populate_obj(obj)
    for name in optional:
        setattr(obj, name, getattr(obj, name) or None)


def all_communities() -> list[Community]:
    """Returns every community by name."""
    return list(db.session.scalars(sa.select(Community).order_by(Community.name)))


def all_contractors() -> list[Contractor]:
    """Returns every contractor by name."""
    return list(db.session.scalars(sa.select(Contractor).order_by(Contractor.name)))


def all_categories() -> list[Category]:
    """Returns every category in its order."""
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))

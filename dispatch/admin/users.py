"""Administration of accounts: roles, communities, passwords, disabling."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.security import generate_password_hash
from wtforms.fields.choices import SelectChoice

from dispatch.admin.blueprint import all_communities, bp, done, form_page
from dispatch.admin.forms import (
    ROLE_LABELS,
    ConfirmForm,
    PasswordForm,
    UserCreateForm,
    UserEditForm,
    user_form_data,
)
from dispatch.board.auth import admin_only
from repair.db import db
from repair.models import Community, Role, User


@bp.get("/users")
@admin_only
def users():
    """Every account with its role, communities and state."""
    return render_template(
        "board/admin/users.html",
        users=db.session.scalars(sa.select(User).order_by(User.username)).all(),
        roles=ROLE_LABELS,
        toggle_form=ConfirmForm(formdata=None),
    )


def _community_choices(form: UserEditForm) -> None:
    form.communities.choices = [
        SelectChoice(c.id, c.display_name()) for c in all_communities()
    ]


def _chosen_communities(ids: list[int]) -> list[Community]:
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Community).where(Community.id.in_(ids))))


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def new_user():
    """Creates an account with a role, communities and an initial password."""
    form = UserCreateForm()
    _community_choices(form)
    if form.validate_on_submit():
        user = User(
            username=form.username.data,
            display_name=form.display_name.data or None,
            role=Role(form.role.data),
            phone=form.phone.data or None,
            password_hash=generate_password_hash(form.password.data),
            communities=_chosen_communities(form.communities.data),
        )
        db.session.add(user)
        db.session.commit()
        return done(_("Account %(name)s created.", name=user.username), "admin.users")
    return form_page("board/admin/user.html", form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def user(user_id: int):
    """Changes an account's name, role, communities and phone."""
    user = db.get_or_404(User, user_id)
    form = UserEditForm(data=user_form_data(user))
    _community_choices(form)
    valid = form.validate_on_submit()
    demoting_self = user.id == current_user.id and form.role.data != Role.ADMIN.value
    if form.is_submitted() and demoting_self:
        # An administrator who demoted themselves could not undo it.
        form.role.errors = [
            *form.role.errors,
            _("You cannot take the administrator role from yourself."),
        ]
        valid = False
    if valid:
        user.display_name = form.display_name.data or None
        user.role = Role(form.role.data)
        user.phone = form.phone.data or None
        user.communities = _chosen_communities(form.communities.data)
        db.session.commit()
        return done(_("Account %(name)s saved.", name=user.username), "admin.users")
    return _user_page(user, form)


def _user_page(user: User, form: UserEditForm, password_form=None, status=None):
    if status is None:
        status = 422 if form.is_submitted() else 200
    return (
        render_template(
            "board/admin/user.html",
            form=form,
            user=user,
            password_form=password_form or PasswordForm(formdata=None),
            toggle_form=ConfirmForm(formdata=None),
        ),
        status,
    )


@bp.post("/users/<int:user_id>/password")
@admin_only
def reset_password(user_id: int):
    """Sets a new password for an account."""
    user = db.get_or_404(User, user_id)
    form = PasswordForm()
    if not form.validate():
        edit = UserEditForm(formdata=None, data=user_form_data(user))
        _community_choices(edit)
        return _user_page(user, edit, password_form=form, status=422)
    user.password_hash = generate_password_hash(form.password.data)
    db.session.commit()
    return done(
        _("New password set for %(name)s.", name=user.username),
        "admin.user",
        user_id=user.id,
    )


@bp.post("/users/<int:user_id>/disable")
@admin_only
def disable_user(user_id: int):
    """Disables an account: it cannot log in, and open sessions end."""
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.users"), code=303)
    user.is_active = False
    db.session.commit()
    return done(_("Account %(name)s disabled.", name=user.username), "admin.users")


@bp.post("/users/<int:user_id>/enable")
@admin_only
def enable_user(user_id: int):
    """Enables a disabled account again."""
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user.is_active = True
    db.session.commit()
    return done(_("Account %(name)s enabled.", name=user.username), "admin.users")

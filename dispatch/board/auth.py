"""Officer access: login, roles, community scope, and the `users` commands."""

from __future__ import annotations

import sys
import time
from functools import wraps

import click
import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.cli import AppGroup
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import (
    LoginManager,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from repair.db import db
from repair.models import Community, Role, Ticket, User
from repair.security import (
    SafeForm,
    checks_own_input,
    clear_login_failures,
    limiter,
    login_locked_for,
    record_login_failure,
    safe_next,
)

bp = Blueprint("auth", __name__, url_prefix="/board")
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to see the board.")
#: Compared against when a username does not exist, so timing tells nothing.
_DUMMY_HASH = generate_password_hash("not-a-password")


#: Session keys: the user's session version at login, and the last request's time.
_SESSION_VERSION = "session_version"
_SESSION_SEEN = "seen_at"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """Returns the session's officer, unless the session was ended (logout
    elsewhere, a disabled account) or stayed idle past OFFICER_IDLE_TIMEOUT."""
    from flask import current_app

    if not user_id.isdigit() or len(user_id) > 10:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active:
        return None
    now = time.time()
    idle = current_app.config["OFFICER_IDLE_TIMEOUT"].total_seconds()
    seen = session.get(_SESSION_SEEN)
    if (
        session.get(_SESSION_VERSION) != user.session_version
        or not isinstance(seen, int | float)
        or now - seen > idle
    ):
        _forget_login()
        return None
    # Activity is work at the board, refreshed at most once a minute (each refresh
    # is a new cookie).
    if request.path.startswith("/board") and now - seen >= 60:
        session[_SESSION_SEEN] = int(now)
    return user


def _forget_login() -> None:
    # Only the login: a resident's tickets or a form's CSRF token in the same
    # session stay.
    for key in (
        "_user_id",
        "_fresh",
        "_id",
        "_remember",
        _SESSION_VERSION,
        _SESSION_SEEN,
    ):
        session.pop(key, None)


def start_session(user: User) -> None:
    """Logs ``user`` in, bound to their current session version."""
    session.clear()
    login_user(user)
    session[_SESSION_VERSION] = user.session_version
    session[_SESSION_SEEN] = int(time.time())


def end_sessions(user: User) -> None:
    """Ends every session of ``user`` (on every device): the version moves on."""
    user.session_version = (user.session_version or 0) + 1


class LoginForm(SafeForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(
        _l("Password"), validators=[DataRequired(), Length(max=256)]
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
@checks_own_input
def login():
    """Logs an officer in; the same message for a wrong name or a wrong password.

    After LOGIN_LOCKOUT_AFTER failures an account (existing or not) is locked for
    a while, doubling with each further failure, whatever address tries it.
    """
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        locked = login_locked_for(username)
        if locked:
            minutes = max(1, (locked + 59) // 60)
            flash(
                gettext(
                    "Too many failed attempts for this account. "
                    "Please try again in %(minutes)d minutes.",
                    minutes=minutes,
                ),
                "error",
            )
            return render_template("board/login.html", form=form), 429
        user = db.session.scalar(sa.select(User).where(User.username == username))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        valid = _check(stored, form.password.data)
        if user is not None and user.is_active and valid:
            clear_login_failures(username)
            start_session(user)
            return redirect(safe_next(request.args.get("next"), url_for("board.board")))
        record_login_failure(username)
        flash(_l("Wrong username or password."), "error")
    elif request.method == "POST":
        status = 422 if form.errors.keys() - {"csrf_token"} else 200
    return render_template("board/login.html", form=form), status


def _check(stored: str, password: str) -> bool:
    try:
        return check_password_hash(stored, password)
    except ValueError:  # "!" marks an account without a password
        return False


@bp.post("/logout")
@login_required
def logout():
    """Logs out: every session of this officer ends, this cookie and any copy."""
    end_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def require_role(*roles: Role):
    """Lets only logged-in users with one of ``roles`` through (others get 403)."""

    def decorate(view):
        @wraps(view)
        @login_required
        def checked(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return checked

    return decorate


staff_only = require_role(Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)
admin_only = require_role(Role.ADMIN)


def community_ids(user: User | None = None) -> list[int] | None:
    """Returns the communities the user may see, or None for all (administrators)."""
    user = user or current_user
    if user.role is Role.ADMIN:
        return None
    return [community.id for community in user.communities]


def scoped(query: sa.Select, column=Ticket.community_id) -> sa.Select:
    """Restricts a query to the current user's communities."""
    allowed = community_ids()
    return query if allowed is None else query.where(column.in_(allowed))


def visible_communities() -> list[Community]:
    """Returns the communities the current user may see, by name."""
    return list(
        db.session.scalars(
            scoped(sa.select(Community), Community.id).order_by(Community.name)
        )
    )


def ticket_or_404(number: str) -> Ticket:
    """Returns a ticket the current user may see; 404 for others (not 403: no hint)."""
    ticket = db.session.scalar(
        scoped(sa.select(Ticket).where(Ticket.number == number.upper()))
    )
    if ticket is None:
        abort(404)
    return ticket


users_cli = AppGroup("users", help="Manage officer, supervisor and admin accounts.")


@users_cli.command("create")
@click.argument("username")
@click.option(
    "--role", type=click.Choice([r.value for r in Role]), default=Role.OFFICER.value
)
@click.option("--community", "communities", multiple=True, help="Community slug.")
@click.option("--name", "display_name", default=None)
@click.option("--phone", default=None, help="For SLA alerts by SMS (E.164).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def create_user(username, role, communities, display_name, phone, password_stdin):
    """Create an account (the password is read from stdin, never an argument)."""
    if db.session.scalar(sa.select(User).where(User.username == username)):
        raise click.ClickException(f"user {username!r} exists")
    password = _read_password(password_stdin)
    scope = _communities(communities)
    if Role(role) is not Role.ADMIN and not scope:
        raise click.ClickException("officers and supervisors need --community")
    db.session.add(
        User(
            username=username,
            display_name=display_name,
            role=Role(role),
            phone=phone,
            password_hash=generate_password_hash(password),
            communities=scope,
        )
    )
    db.session.commit()
    click.echo(f"created {role} {username}")


@users_cli.command("list")
def list_users():
    """List accounts with their role and communities."""
    for user in db.session.scalars(sa.select(User).order_by(User.username)):
        scope = ",".join(c.slug for c in user.communities) or "*"
        state = "" if user.is_active else " (disabled)"
        click.echo(f"{user.username}\t{user.role.value}\t{scope}{state}")


@users_cli.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
def reset_password(username, password_stdin):
    """Set a new password for an account."""
    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    user.password_hash = generate_password_hash(_read_password(password_stdin))
    end_sessions(user)
    db.session.commit()
    click.echo(f"password changed for {username}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password needs at least 8 characters")
    return password


def _communities(slugs) -> list[Community]:
    found = []
    for slug in slugs:
        community = db.session.scalar(
            sa.select(Community).where(Community.slug == slug)
        )
        if community is None:
            raise click.ClickException(f"no community {slug!r}")
        found.append(community)
    return found


def init_app(app: Flask) -> None:
    """Binds Flask-Login, the login pages and the `users` commands."""
    login_manager.init_app(app)
    app.register_blueprint(bp)
    app.cli.add_command(users_cli)
    app.jinja_env.globals["current_user"] = current_user

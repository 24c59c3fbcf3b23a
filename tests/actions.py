"""What users do, as small helpers the tests read like stories with."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

_HIDDEN = re.compile(
    r'name="(csrf_token|submission_key|kept_photos)" type="hidden" value="([^"]*)"'
)
_NUMBER = re.compile(r'id="ticket-number">([A-Z]+-\d{8}-\d{4,})<')


def hidden_fields(html: str) -> dict[str, str]:
    """Returns the hidden inputs (CSRF token, submission key, kept photos) of a form."""
    return dict(_HIDDEN.findall(html))


class ResidentActions:
    """A resident in front of the sticker at one entrance, using a plain form."""

    def __init__(self, client, code: str):
        self.client = client
        self.code = code
        self.last_form: dict[str, str] = {}

    def open_form(self, **headers):
        response = self.client.get(f"/q/{self.code}", headers=headers)
        self.last_form = hidden_fields(response.get_data(as_text=True))
        return response

    def submit(
        self,
        description: str = "3楼楼梯间扶手松动，晃得厉害",
        spot: str = "3楼楼梯间扶手",
        photos: list[tuple[bytes, str]] | None = None,
        reuse_form: bool = False,
        headers: dict[str, str] | None = None,
        **fields,
    ):
        """Posts the form like a browser without JavaScript; returns the response."""
        from tests.factories import jpeg_bytes

        if not reuse_form or not self.last_form:
            self.open_form()
        if photos is None:
            photos = [(jpeg_bytes(), "photo.jpg")]
        data = dict(self.last_form)
        data.update({"description": description, "spot": spot})
        data.update(fields)
        data["photos"] = [(io.BytesIO(content), name) for content, name in photos]
        response = self.client.post(
            f"/q/{self.code}",
            data=data,
            content_type="multipart/form-data",
            headers=headers or {},
        )
        if response.status_code == 422:
            self.last_form = hidden_fields(response.get_data(as_text=True))
        return response

    def report(self, **kwargs) -> str:
        """Submits a valid report and returns the ticket number it got."""
        response = self.submit(**kwargs)
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]
        page = self.client.get(response.headers["Location"])
        return ticket_number(page.get_data(as_text=True))


def ticket_number(html: str) -> str:
    match = _NUMBER.search(html)
    assert match, "no ticket number on the page"
    return match.group(1)


class Jobs:
    """Runs RepairDesk's rq jobs for real: the scheduler moves what is due (by the
    frozen clock) onto the queue, and a SimpleWorker works it off in burst mode."""

    def __init__(self, app):
        self.app = app

    @property
    def queues(self):
        from dispatch.worker.queues import get_queues

        return get_queues(self.app)

    def run_due(self) -> None:
        from rq import SimpleWorker
        from rq.scheduler import RQScheduler

        with self.app.app_context():  # as `repairdesk worker` runs its jobs
            queues = self.queues
            connection = queues[0].connection
            scheduler = RQScheduler(queues, connection=connection)
            scheduler.prepare_registries([q.name for q in queues])
            scheduler.enqueue_scheduled_jobs()
            SimpleWorker(queues, connection=connection).work(burst=True)

    def scheduled_ids(self) -> set[str]:
        """Returns the ids of jobs waiting in rq's schedules."""
        return {
            job_id
            for queue in self.queues
            for job_id in queue.scheduled_job_registry.get_job_ids()
        }

    def scheduled_at(self, job_id: str):
        """Returns when rq will run a scheduled job (its registry's whole second)."""
        from datetime import UTC, datetime

        for queue in self.queues:
            score = queue.scheduled_job_registry.connection.zscore(
                queue.scheduled_job_registry.key, job_id
            )
            if score is not None:
                return datetime.fromtimestamp(score, UTC)
        return None


def job_path(path: str) -> str | None:
    """Returns the job page a /j/<code> link leads to (/j/<token>), as the phone's
    browser ends up there; a /j/<token> path as it is."""
    from dispatch.contractor.tokens import assignment_id_from_code, job_token

    code = path.rsplit("/", 1)[-1]
    if "-" in code:
        return path
    assignment_id = assignment_id_from_code(code)
    return f"/j/{job_token(assignment_id)}" if assignment_id else None


class ContractorActions:
    """A contractor on a phone, working a job from the link in their SMS."""

    _LINK = re.compile(r"https?://[^/\s]+(/j/(?:[0-9a-z]+-[A-Za-z0-9_-]+|[0-9A-Z]{8}))")

    def __init__(self, client, phone: str):
        self.client = client
        self.phone = phone

    def link(self) -> str:
        """Returns the path of the job link in the newest SMS sent to this phone."""
        links = self.links()
        if not links:
            raise AssertionError(f"no job link was sent to {self.phone}")
        return links[0]

    def links(self) -> list[str]:
        """Returns the paths of every job link sent to this phone, newest first."""
        import sqlalchemy as sa

        from dispatch.models import OutboxMessage
        from repair.db import db

        bodies = db.session.scalars(
            sa.select(OutboxMessage.body)
            .where(OutboxMessage.to_phone == self.phone)
            .order_by(OutboxMessage.id.desc())
        ).all()
        found = [self._LINK.search(body) for body in bodies]
        paths = [job_path(match.group(1)) for match in found if match]
        return list(dict.fromkeys(path for path in paths if path))

    def csrf(self, path: str) -> str:
        html = self.client.get(path).get_data(as_text=True)
        return re.search(
            r'name="csrf_token" type="hidden" value="([^"]+)"', html
        ).group(1)

    def tap(self, path: str, action: str, **fields):
        token = self.csrf(path)
        if action == "arrive" and "no_photo_reason" not in fields:
            # One tap as before: the arrival without a photo says why.
            fields["no_photo_reason"] = "相机故障"
        return self.client.post(
            f"{path}/{action}", data={"csrf_token": token, **fields}
        )

    def arrive(self, path: str, photo: bytes | None = None, **fields):
        """Says "I am on site" with a photo of the place (or the fields given)."""
        data = {"csrf_token": self.csrf(path), **fields}
        if photo is not None:
            data["arrival_photo"] = (io.BytesIO(photo), "place.jpg")
        return self.client.post(
            f"{path}/arrive", data=data, content_type="multipart/form-data"
        )

    def complete(self, path: str, photos=None, **fields):
        from tests.factories import jpeg_bytes

        html = self.client.get(path).get_data(as_text=True)
        data = hidden_fields(html)
        if photos is None:
            photos = [(jpeg_bytes(color=(40, 160, 60)), "done.jpg")]
        data.setdefault("labour_hours", "1")
        data.update(fields)
        data["photos"] = [(io.BytesIO(content), name) for content, name in photos]
        return self.client.post(
            f"{path}/complete", data=data, content_type="multipart/form-data"
        )


class OfficerActions:
    """A repair officer at the board, logged in through the real login form."""

    _CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')

    def __init__(self, client):
        self.client = client

    def log_in(self, username: str, password: str):
        page = self.client.get("/board/login").get_data(as_text=True)
        token = self._CSRF.search(page).group(1)
        return self.client.post(
            "/board/login",
            data={"csrf_token": token, "username": username, "password": password},
        )

    def csrf(self, path: str) -> str:
        return self._CSRF.search(self.client.get(path).get_data(as_text=True)).group(1)

    def act(self, number: str, action: str, **fields):
        path = f"/board/t/{number}"
        data = {"csrf_token": self.csrf(path), **fields}
        return self.client.post(f"{path}/{action}", data=data)


@dataclass(frozen=True)
class OtherCommunity:
    id: int
    code: str
    username: str
    password: str


def make_other_community(app) -> OtherCommunity:
    """Creates 绿城小区 with one entrance and its own officer (for scope tests)."""
    from werkzeug.security import generate_password_hash

    from repair.db import db
    from repair.models import Building, Community, Entrance, Role, User
    from repair.places import assign_new_code

    with app.app_context():
        community = Community(slug="lvcheng", name="绿城小区", ticket_prefix="LC")
        building = Building(community=community, name="1栋")
        entrance = Entrance(building=building, name="1单元", code="")
        db.session.add_all([community, building, entrance])
        assign_new_code(entrance)
        db.session.add(
            User(
                username="lc-officer",
                role=Role.OFFICER,
                password_hash=generate_password_hash("another password"),
                communities=[community],
            )
        )
        db.session.commit()
        return OtherCommunity(
            community.id, entrance.code, "lc-officer", "another password"
        )


def officer_at_desk(
    browser,
    live_server: str,
    path: str = "/board",
    wait_for: str | None = None,
    size: tuple[int, int] = (1280, 800),
    **options,
):
    """Logs the demo officer in at the board in a fresh Chromium context (a desk's
    screen by default, Chinese); returns (context, page), the page at ``path``."""
    from tests.conftest import OFFICER_PASSWORD

    context = browser.new_context(
        viewport={"width": size[0], "height": size[1]}, locale="zh-CN", **options
    )
    page = context.new_page()
    page.goto(f"{live_server}{path}")
    page.fill("#username", "officer")
    page.fill("#password", OFFICER_PASSWORD)
    page.click("#login")
    if wait_for:
        page.wait_for_selector(wait_for)
    return context, page

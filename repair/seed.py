"""Reference data (categories) and the demo community for `make run`."""

from __future__ import annotations

import secrets
from pathlib import Path

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from repair import signals
from repair.db import db
from repair.models import (
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    PlaceKind,
    Role,
    User,
)
from repair.places import assign_new_code

CATEGORIES = [
    ("lift", "电梯", "Lift"),
    ("water", "给水管道", "Water supply"),
    ("gas", "燃气", "Gas"),
    ("electrical", "电气线路", "Electrical"),
    ("structure", "结构/高空坠物", "Structure / falling objects"),
    ("drainage", "排水/污水", "Drainage / sewage"),
    ("lighting", "照明", "Lighting"),
    ("doors", "门禁/楼道门", "Doors / access"),
    ("roads", "道路/地面", "Roads / paths"),
    ("fire", "消防设施", "Fire equipment"),
    ("greenery", "绿化", "Greenery"),
    ("other", "其他", "Other"),
]

#: The demo's common areas (公共区域): Chinese name, English name.
DEMO_COMMON_AREAS = (
    ("北门", "North gate"),
    ("地下车库", "Underground car park"),
    ("儿童游乐场", "Children's playground"),
    ("垃圾分类点", "Refuse sorting point"),
    ("中心花园", "Central garden"),
)

DEMO_SLUG = "yangguang"
DEMO_OFFICER = "officer"
DEMO_SUPERVISOR = "supervisor"
DEMO_ADMIN = "admin"
DEMO_LOGINS_FILE = "demo-logins.txt"
#: The demo's staff: username, display name, role, phone.
DEMO_USERS = (
    (DEMO_OFFICER, "李专干", Role.OFFICER, "+8613800000009"),
    (DEMO_SUPERVISOR, "陈主任", Role.SUPERVISOR, "+8613800000010"),
    (DEMO_ADMIN, "系统管理员", Role.ADMIN, "+8613800000011"),
)


def seed_categories() -> list[Category]:
    """Creates or renames the standard categories; returns them in order."""
    existing = {c.slug: c for c in db.session.scalars(sa.select(Category))}
    for order, (slug, name, name_en) in enumerate(CATEGORIES):
        category = existing.get(slug) or Category(slug=slug)
        category.name, category.name_en, category.sort_order = name, name_en, order
        db.session.add(category)
        existing[slug] = category
    return [existing[slug] for slug, _, _ in CATEGORIES]


def seed_demo(instance_path: str) -> dict:
    """Creates the demo community once; returns what a newcomer needs to know."""
    seed_categories()
    community = db.session.scalar(
        sa.select(Community).where(Community.slug == DEMO_SLUG)
    )
    if community is None:
        community = _demo_community()
    logins = _demo_logins(Path(instance_path) / DEMO_LOGINS_FILE, community)
    db.session.flush()
    signals.demo_seeded.send(community, community=community)
    db.session.commit()
    return {
        "community": community,
        "logins": logins,
        "officer": DEMO_OFFICER,
        "password": logins.get(DEMO_OFFICER),
    }


def _demo_logins(path: Path, community: Community) -> dict[str, str | None]:
    """Creates the demo officer, supervisor and administrator with fresh passwords.

    The passwords are kept in the instance folder (mode 600) so that `repairdesk
    run` can print them; a user who already exists keeps the password it has.
    """
    saved = read_demo_logins(path)
    for username, display_name, role, phone in DEMO_USERS:
        if db.session.scalar(sa.select(User).where(User.username == username)):
            saved.setdefault(username, None)
            continue
        password = secrets.token_urlsafe(9)
        db.session.add(
            User(
                username=username,
                display_name=display_name,
                role=role,
                phone=phone,
                password_hash=generate_password_hash(password),
                communities=[community] if role != Role.ADMIN else [],
            )
        )
        saved[username] = password
    path.write_text(
        "".join(f"{user}\t{password}\n" for user, password in saved.items() if password)
    )
    path.chmod(0o600)
    return saved


def read_demo_logins(path: Path) -> dict[str, str | None]:
    """Returns the demo logins saved by seed_demo: username → password."""
    if not path.exists():
        return {}
    pairs = (line.split("\t", 1) for line in path.read_text().splitlines() if line)
    return {user: password for user, password in pairs}


def _demo_community() -> Community:
    community = Community(
        slug=DEMO_SLUG,
        name="阳光花园",
        name_en="Sunshine Garden",
        ticket_prefix="YG",
        service_phone="0755-8888 6666",
    )
    db.session.add(community)
    for b_order, (entrance_count) in enumerate((2, 3, 2), start=1):
        building = Building(
            community=community,
            name=f"{b_order}栋",
            name_en=f"Building {b_order}",
            sort_order=b_order,
        )
        db.session.add(building)
        for e_order in range(1, entrance_count + 1):
            entrance = Entrance(
                building=building,
                name=f"{e_order}单元",
                name_en=f"Entrance {e_order}",
                sort_order=e_order,
                code="",
            )
            db.session.add(entrance)
            assign_new_code(entrance)
    for order, (name, name_en) in enumerate(DEMO_COMMON_AREAS, start=1):
        area = Entrance(
            community=community,
            kind=PlaceKind.COMMON_AREA,
            name=name,
            name_en=name_en,
            sort_order=order,
            code="",
        )
        db.session.add(area)
        assign_new_code(area)
    db.session.add_all(
        [
            Contractor(
                name="安居维保服务有限公司",
                contact_name="王师傅",
                phone="+8613800000001",
                communities=[community],
            ),
            Contractor(
                name="顺达物业工程部",
                contact_name="赵师傅",
                phone="+8613800000002",
                communities=[community],
            ),
        ]
    )
    return community

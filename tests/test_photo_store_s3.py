"""Photos in S3-compatible object storage, against a real S3 API on this machine
(moto's server): submission → photo job → display copy served through our routes;
originals private; `repairdesk photos migrate` from the local folder."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from repair import create_app
from repair.db import db
from repair.models import Photo
from repair.photos.cli import migrate_photos
from repair.photos.processing import LocalPhotoStore, process_photo
from repair.photos.s3 import parse_location
from repair.photos.store import (
    LocalOriginalStore,
    open_location,
    original_store,
    photo_store,
    take_photo,
)
from repair.security import photo_url
from tests.factories import jpeg_bytes

LIMITS = {"max_bytes": 20 * 1024 * 1024, "max_pixels": 50_000_000}


def _local_files(app) -> list[Path]:
    roots = [
        Path(app.config["PHOTO_DIR"]),
        Path(app.config["PHOTO_DIR"] + "-originals"),
    ]
    return [path for root in roots if root.exists() for path in root.rglob("*")]


def _bucket(app) -> str:
    return parse_location(app.config["PHOTO_STORE"])[0]


def test_report_photo_is_kept_privately_in_s3_then_served_from_it(
    s3_settings, app, resident, client, jobs, s3_server
):
    bucket = _bucket(app)
    resident.report(photos=[(jpeg_bytes(gps=True), "gps.jpg")])
    with app.test_request_context():
        photo = db.session.scalar(sa.select(Photo))
        assert photo.state == "pending"
        original, pending_thumb = photo.original, photo_url(photo, "thumb")
    # Waiting for the job: only the original, under the private prefix.
    key = f"district/private/originals/{original[:2]}/{original}"
    # (its kept-quota marker went at the commit: a ticket refers to it)
    assert s3_server.keys(bucket) == [key]
    anonymous = requests.get(f"{s3_server.endpoint_url}/{bucket}/{key}", timeout=10)
    assert anonymous.status_code == 403
    grants = s3_server.client().get_object_acl(Bucket=bucket, Key=key)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]
    assert all(grant["Grantee"]["Type"] == "CanonicalUser" for grant in grants)
    assert client.get(pending_thumb).mimetype == "image/svg+xml"

    jobs.run_due()

    with app.test_request_context():
        photo = db.session.scalar(sa.select(Photo))
        assert (photo.state, photo.original) == ("ready", None)
        display_url, thumb_url = photo_url(photo, "display"), photo_url(photo, "thumb")
    sha = photo.sha256
    assert s3_server.keys(bucket) == [
        f"district/photos/{sha[:2]}/{sha}.jpg",
        f"district/photos/{sha[:2]}/{sha}.thumb.jpg",
    ]  # the original is gone with its metadata
    stored = (
        s3_server.client()
        .get_object(Bucket=bucket, Key=f"district/photos/{sha[:2]}/{sha}.jpg")["Body"]
        .read()
    )

    display = client.get(display_url)
    assert display.status_code == 200 and display.mimetype == "image/jpeg"
    assert display.data == stored
    assert b"Exif" not in display.data and b"GPS" not in display.data
    assert display.headers["Content-Length"] == str(len(stored))
    assert display.headers["ETag"] == f'"{sha}.display"'
    cache = display.headers["Cache-Control"]
    assert cache.startswith("private, max-age=") and cache.endswith(", immutable")
    max_age = int(cache.split("max-age=")[1].split(",")[0])
    assert 3600 <= max_age <= 3 * 3600  # until the signed link expires
    again = client.get(display_url, headers={"If-None-Match": display.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    thumb = client.get(thumb_url)
    assert thumb.status_code == 200 and thumb.headers["ETag"] == f'"{sha}.thumb"'
    assert thumb.data != display.data
    forged = display_url.replace("s=", "s=0")
    assert client.get(forged).status_code == 404
    assert _local_files(app) == []  # nothing on this machine's disk


def test_a_photo_missing_from_the_bucket_is_a_404_not_an_error(
    s3_settings, app, resident, client, jobs, s3_server
):
    resident.report()
    jobs.run_due()
    with app.test_request_context():
        photo = db.session.scalar(sa.select(Photo))
        url = photo_url(photo, "display")
    bucket = _bucket(app)
    for key in s3_server.keys(bucket):
        s3_server.client().delete_object(Bucket=bucket, Key=key)
    assert client.get(url).status_code == 404


def test_rejected_form_shows_kept_photo_previews_from_s3(
    s3_settings, app, resident, s3_server
):
    response = resident.submit(description="", photos=[(jpeg_bytes(), "a.jpg")])
    assert response.status_code == 422
    assert "data:image/jpeg;base64," in response.get_data(as_text=True)
    keys = [
        key
        for key in s3_server.keys(_bucket(app))
        if not key.startswith("district/private/kept/")  # the quotas' markers
    ]
    assert len(keys) == 2 and keys[1].endswith(".preview")
    assert all(key.startswith("district/private/originals/") for key in keys)


@pytest.fixture(params=["local", "s3"])
def stores(request, tmp_path, s3_server):
    if request.param == "local":
        return open_location(str(tmp_path / "photos"), {})
    config = s3_server.settings(s3_server.new_bucket())
    return open_location(config["PHOTO_STORE"], config)


def test_both_stores_keep_photos_and_originals_alike(stores):
    photos, originals = stores
    photo = process_photo(jpeg_bytes(), **LIMITS)
    assert list(photos.names()) == []
    assert photos.open(photo.sha256) is None

    photos.save(photo)
    photos.save(photo)  # harmless

    assert photos.exists(photo.sha256) and photos.exists(photo.sha256, "thumbnail")
    assert photos.read(photo.sha256, "thumbnail") == photo.thumbnail
    opened = photos.open(photo.sha256)
    assert opened.size == len(photo.display)
    assert b"".join(opened.chunks(1000)) == photo.display
    assert list(photos.names()) == [
        (photo.sha256, "thumbnail"),
        (photo.sha256, "display"),
    ]
    with pytest.raises(FileNotFoundError):
        photos.read("a" * 64)
    for name in ("../etc", "A" * 64, ""):
        with pytest.raises(ValueError):
            photos.exists(name)
    with pytest.raises(ValueError):
        photos.exists(photo.sha256, "original")

    raw = jpeg_bytes(gps=True)
    sha = originals.save(raw)
    assert originals.exists(sha) and originals.read(sha) == raw
    assert originals.read_preview(sha) is None
    originals.save_preview(sha, b"small")
    assert originals.read_preview(sha) == b"small"
    assert list(originals.names()) == [sha]
    assert list(originals.older_than(60)) == []
    assert list(originals.older_than(60, now=time.time() + 120)) == [sha]
    originals.delete(sha)
    originals.delete(sha)  # harmless
    assert not originals.exists(sha) and originals.read_preview(sha) is None
    with pytest.raises(FileNotFoundError):
        originals.read(sha)


def test_a_bad_store_location_is_refused():
    for location in ("ftp://host/photos", "s3://", "s3:///prefix"):
        with pytest.raises(ValueError):
            open_location(location, {})


class _CutOff:
    """A target store whose connection drops after `allowed` uploads."""

    def __init__(self, store, allowed: int):
        self.store, self.allowed = store, allowed

    def names(self):
        return self.store.names()

    def put(self, *args):
        if self.allowed == 0:
            raise ConnectionError("connection reset")
        self.allowed -= 1
        self.store.put(*args)


def test_local_store_migrates_to_s3_resumably_and_s3_then_serves_it(
    app, settings, resident, jobs, s3_server
):
    # Two processed photos and one original still waiting for its job.
    resident.report(photos=[(jpeg_bytes(), "a.jpg")])
    jobs.run_due()
    resident.report(
        description="路灯不亮", photos=[(jpeg_bytes(color=(200, 10, 10)), "b.jpg")]
    )
    with app.app_context():
        take_photo(jpeg_bytes(color=(5, 5, 5)))  # stored by an earlier release
        source = photo_store()
        assert isinstance(source, LocalPhotoStore)
        assert isinstance(original_store(), LocalOriginalStore)
        local = list(source.names())
    assert len(local) == 4
    bucket = s3_server.new_bucket()
    s3 = s3_server.settings(bucket)
    target, _ = open_location(s3["PHOTO_STORE"], s3)

    with pytest.raises(ConnectionError):  # interrupted after one upload
        migrate_photos(source, _CutOff(target, 1))
    assert len(s3_server.keys(bucket)) == 1

    runner = app.test_cli_runner()
    app.config.update({key: s3[key] for key in s3 if key != "PHOTO_STORE"})
    result = runner.invoke(args=["photos", "migrate", "--to", s3["PHOTO_STORE"]])
    assert result.exit_code == 0, result.output
    assert "photos: 3 copied, 1 already there, 0 damaged" in result.output
    assert "originals: 1 copied, 0 already there, 0 damaged" in result.output
    again = runner.invoke(args=["photos", "migrate", "--to", s3["PHOTO_STORE"]])
    assert "photos: 0 copied, 4 already there, 0 damaged" in again.output
    assert "originals: 0 copied, 1 already there, 0 damaged" in again.output
    assert len(s3_server.keys(bucket)) == 5

    # The switch: a web app on the bucket serves the old photo and the job
    # finishes the waiting one from the migrated original.
    moved = create_app({**settings, **s3})
    with moved.app_context():
        assert isinstance(photo_store(), type(target))
    jobs.app = moved
    jobs.run_due()
    client = moved.test_client()
    with moved.test_request_context():
        photos = db.session.scalars(sa.select(Photo).order_by(Photo.id)).all()
        assert [photo.state for photo in photos] == ["ready", "ready"]
        urls = [photo_url(photo, "display") for photo in photos]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert len(s3_server.keys(bucket)) == 6  # +2 processed, -1 original used


def test_migrate_refuses_a_location_that_is_not_a_store(app):
    result = app.test_cli_runner().invoke(
        args=["photos", "migrate", "--to", "ftp://example.org/photos"]
    )
    assert result.exit_code == 2
    assert "s3://BUCKET/PREFIX" in result.output


def test_migrate_does_not_copy_a_damaged_photo(app, tmp_path, s3_server):
    with app.app_context():
        photo = take_photo(jpeg_bytes())
        path = photo_store().path(photo.sha256)
        path.write_bytes(b"truncated by a failing disk")
    s3 = s3_server.settings(s3_server.new_bucket())
    app.config.update({key: s3[key] for key in s3 if key != "PHOTO_STORE"})
    result = app.test_cli_runner().invoke(
        args=["photos", "migrate", "--to", s3["PHOTO_STORE"]]
    )
    assert result.exit_code == 1
    assert "photos: 1 copied, 0 already there, 1 damaged" in result.output
    assert f"damaged, not copied: {photo.sha256}" in result.output


def test_both_stores_count_kept_originals_for_the_quotas(stores):
    """The kept-originals quota works the same on the folder and the bucket: a
    marker names the client until the original is released or deleted."""
    from repair.photos.store import enforce_kept_quota

    _photos, originals = stores
    first = originals.save(jpeg_bytes(color=(200, 0, 0)), client="mallory")
    second = originals.save(jpeg_bytes(color=(0, 200, 0)), client="mallory")
    other = originals.save(jpeg_bytes(color=(0, 0, 200)), client="alice")
    untracked = originals.save(jpeg_bytes(color=(90, 90, 90)))
    kept = originals.kept()
    assert {item.sha256 for item in kept} == {first, second, other}
    assert {item.client for item in kept if item.sha256 == first} == {"mallory"}
    assert all(item.size > 0 for item in kept)

    room = max(item.size for item in kept if item.client == "mallory")
    dropped = enforce_kept_quota(
        originals,
        "mallory",
        per_client=room,  # room for one of mallory's, not two
        total=10**9,
        protected=[],
        in_use=lambda hashes: set(),
    )
    assert len(dropped) == 1 and dropped[0] in (first, second)
    assert not originals.exists(dropped[0])
    assert originals.exists(other) and originals.exists(untracked)

    originals.release(other)
    assert other not in {item.sha256 for item in originals.kept()}
    assert originals.exists(other)  # released, not deleted


@pytest.fixture
def store_away(settings, s3_server) -> dict:
    """Settings whose object store does not answer (its server is not there)."""
    import socket

    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.update(s3_server.settings("away"))
    settings["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    return settings


def test_a_store_that_does_not_answer_keeps_the_words_and_asks_for_the_photo_again(
    store_away, app, resident
):
    """An object store outage is no 500: the form comes back with everything
    written kept and a clear message; no ticket is half made."""
    response = resident.submit(
        description="单元门口台阶塌了一块", photos=[(jpeg_bytes(), "step.jpg")]
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "单元门口台阶塌了一块" in page
    assert "step.jpg" in page and "暂时无法保存" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Photo)) == 0


def test_a_photo_is_a_503_not_a_500_while_the_store_is_away(
    app, resident, client, jobs, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    from repair.photos.processing import LocalPhotoStore

    resident.report(photos=[(jpeg_bytes(), "a.jpg")])
    jobs.run_due()
    with app.test_request_context():
        photo = db.session.scalar(sa.select(Photo))
        assert photo.state == "ready"
        url = photo_url(photo, "display")
    assert client.get(url).status_code == 200

    def away(self, *args, **kwargs):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    monkeypatch.setattr(LocalPhotoStore, "open", away)
    assert client.get(url).status_code == 503

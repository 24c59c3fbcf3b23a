"""The Open311 GeoReport v2 server, read by a third-party client (georeport) and
checked against the published GeoReport v2 JSON Schemas."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from georeport import GeoReport
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from dispatch.integrations.media import (
    fetch_media,
    is_public_address,
    set_address_check,
)
from dispatch.integrations.models import ApiKeyUse, EntrancePlace, RemoteMedia
from repair.db import db
from repair.models import Channel, Entrance, Ticket
from tests.factories import jpeg_bytes

SCHEMAS = Path(__file__).parent / "data" / "open311_schemas"


def _registry() -> Registry:
    resources = [
        (path.name, Resource.opaque(json.loads(path.read_text())))
        for path in SCHEMAS.glob("*.json")
    ]
    return Registry().with_resources(resources)


def validate(name: str, document) -> None:
    """Raises unless the document is valid under the vendored schema ``name``."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft4Validator(schema, registry=_registry()).validate(document)


@pytest.fixture
def api_key(app, demo) -> str:
    result = app.test_cli_runner().invoke(
        args=["open311", "keys", "create", "FixMyStreet", "--community", "yangguang"]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


@pytest.fixture
def client311(live_server) -> tuple[GeoReport, GeoReport]:
    root = f"{live_server}/open311/v2"
    return GeoReport(root), GeoReport(root, output_format="xml")


def post_request(base: str, fmt: str = "json", **fields):
    return requests.post(f"{base}/open311/v2/requests.{fmt}", data=fields, timeout=10)


def test_the_georeport_client_reads_services_in_json_and_xml(client311, demo):
    as_json, as_xml = client311
    services = as_json.get_service_list()
    validate("services", services)
    codes = [s["service_code"] for s in services]
    assert "lift" in codes or len(codes) >= 3
    assert {s["metadata"] for s in services} == {True}
    definition = as_json.get_service_definition(codes[0])
    validate("service-definition", definition)
    assert [a["code"] for a in definition["attributes"]] == ["danger", "spot"]

    xml_services = as_xml.get_service_list()
    assert [s["service_code"] for s in xml_services] == codes
    xml_definition = as_xml.get_service_definition(codes[0])
    assert [a["code"] for a in xml_definition["attributes"]["attribute"]] == [
        "danger",
        "spot",
    ]


def test_a_client_reports_at_an_address_id_and_reads_the_request_back(
    app, live_server, client311, api_key, entrance_code
):
    answer = post_request(
        live_server,
        api_key=api_key,
        service_code="lighting",
        address_id=entrance_code,
        description="3楼楼道灯不亮",
        first_name="张",
        phone="13912345678",
        **{"attribute[spot]": "3楼楼道"},
    )
    assert answer.status_code == 200, answer.text
    [created] = answer.json()
    assert set(created) == {"service_request_id", "service_notice"}
    number = created["service_request_id"]
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        assert ticket.channel is Channel.OPEN311 and ticket.spot == "3楼楼道"
        assert ticket.contractor is not None  # classified and dispatched
        assert db.session.scalar(sa.select(sa.func.count(ApiKeyUse.id))) == 1

    as_json, as_xml = client311
    record = as_json.get_service_request(number)
    validate("request", record)
    listed = as_json.get_service_requests(status="open")
    validate("requests", listed)
    assert [r["service_request_id"] for r in listed] == [number]
    assert record["status"] == "open" and record["address_id"] == entrance_code
    assert record["requested_datetime"].endswith("+08:00")
    assert "description" not in record  # only for a client with a key
    text = (
        json.dumps(listed, ensure_ascii=False)
        + requests.get(
            f"{live_server}/open311/v2/requests/{number}.json?api_key={api_key}",
            timeout=10,
        ).text
    )
    assert "13912345678" not in text and "张" not in text
    xml_record = as_xml.get_service_request(number)
    assert xml_record["service_request_id"] == number
    assert xml_record["status"] == "open"


def test_errors_are_georeport_errors(live_server, api_key, entrance_code):
    no_key = post_request(
        live_server, service_code="lighting", address_id=entrance_code
    )
    wrong_key = post_request(
        live_server, api_key="rd311_nope", service_code="lighting", address_id="x"
    )
    no_code = post_request(live_server, api_key=api_key, address_id=entrance_code)
    unknown = requests.get(f"{live_server}/open311/v2/services/nope.json", timeout=10)
    missing = requests.get(f"{live_server}/open311/v2/requests/XX-1.xml", timeout=10)

    assert no_key.status_code == 403 and no_key.json()[0]["code"] == 403
    assert wrong_key.status_code == 403
    assert (
        no_code.status_code == 400
        and "service_code" in no_code.json()[0]["description"]
    )
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404
    assert (
        missing.status_code == 404 and "<errors><error><code>404</code>" in missing.text
    )


def test_lat_long_finds_the_nearest_entrance_within_the_distance(
    app, live_server, api_key, entrance_code
):
    with app.app_context():
        entrance = db.session.scalar(
            sa.select(Entrance).where(Entrance.code == entrance_code)
        )
        db.session.add(
            EntrancePlace(entrance_id=entrance.id, lat=31.2304, long=121.4737)
        )
        db.session.commit()
    near = post_request(
        live_server,
        api_key=api_key,
        service_code="lighting",
        lat="31.2305",
        long="121.4738",
    )
    far = post_request(
        live_server,
        api_key=api_key,
        service_code="lighting",
        lat="31.3000",
        long="121.4737",
    )

    assert near.status_code == 200, near.text
    with app.app_context():
        ticket = db.session.scalar(sa.select(Ticket))
        assert ticket.entrance.code == entrance_code
    assert far.status_code == 400


@pytest.fixture
def photo_server():
    """A local server with a photo at /photo.jpg and a redirect at /elsewhere."""
    photo = jpeg_bytes()

    def wsgi(environ, start_response):
        if environ["PATH_INFO"] == "/photo.jpg":
            response = Response(photo, mimetype="image/jpeg")
        else:
            response = Response("", status=302, headers={"Location": "/photo.jpg"})
        return response(environ, start_response)

    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_media_url_is_fetched_by_a_job_but_never_from_private_addresses_or_redirects(
    app, live_server, api_key, entrance_code, photo_server, jobs
):
    for path in ("/photo.jpg", "/elsewhere"):
        post_request(
            live_server,
            api_key=api_key,
            service_code="lighting",
            address_id=entrance_code,
            media_url=photo_server + path,
        )
    with app.app_context():
        refused = fetch_media(db.session.scalar(sa.select(RemoteMedia.id).limit(1)))
    assert refused == "failed"  # loopback, with the real address check

    set_address_check(app, lambda address: True)
    with app.app_context():
        db.session.execute(sa.update(RemoteMedia).values(status="pending", error=None))
        db.session.commit()
    jobs.run_due()
    with app.app_context():
        outcomes = dict(
            db.session.execute(sa.select(RemoteMedia.url, RemoteMedia.status)).all()
        )
        assert outcomes == {
            photo_server + "/photo.jpg": "fetched",
            photo_server + "/elsewhere": "failed",
        }
        photographed = db.session.scalar(
            sa.select(Ticket)
            .join(RemoteMedia, RemoteMedia.ticket_id == Ticket.id)
            .where(RemoteMedia.status == "fetched")
        )
        assert len(photographed.report_photos) == 1


def test_the_address_check_refuses_private_and_loopback_addresses():
    for address in ("127.0.0.1", "10.1.2.3", "192.168.1.1", "169.254.169.254", "::1"):
        assert not is_public_address(address)
    assert is_public_address("8.8.8.8")


def test_a_revoked_key_stops_working(app, live_server, api_key, entrance_code):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["open311", "keys", "list"]).output
    assert "FixMyStreet" in listed and api_key not in listed
    key_id = listed.split("\t", 1)[0]
    assert runner.invoke(args=["open311", "keys", "revoke", key_id]).exit_code == 0
    answer = post_request(
        live_server, api_key=api_key, service_code="lighting", address_id=entrance_code
    )
    assert answer.status_code == 403


def test_an_administrator_issues_a_key_on_the_board_and_sees_it_once(
    app, client, admin_user
):
    from tests.actions import OfficerActions
    from tests.conftest import ADMIN_PASSWORD

    admin = OfficerActions(client)
    admin.log_in(admin_user, ADMIN_PASSWORD)
    with app.app_context():
        from repair.models import Community

        community_id = db.session.scalar(sa.select(Community.id))
    page = client.post(
        "/board/admin/integrations",
        data={
            "key-csrf_token": admin.csrf("/board/admin/integrations"),
            "key-name": "Survey app",
            "key-communities": community_id,
        },
    ).get_data(as_text=True)
    shown = page.split('id="new-key-value">', 1)[1].split("<", 1)[0]
    assert shown.startswith("rd311_")
    again = client.get("/board/admin/integrations").get_data(as_text=True)
    assert "Survey app" in again and shown not in again


def test_a_key_holder_gets_a_photo_link_that_opens(app, live_server, api_key, resident):
    # Outside tester: every media_url answered 404 (the link was not signed).
    from tests.factories import jpeg_bytes

    number = resident.report(
        description="楼道灯不亮", photos=[(jpeg_bytes(), "lamp.jpg")]
    )
    record = requests.get(
        f"{live_server}/open311/v2/requests/{number}.json?api_key={api_key}",
        timeout=10,
    ).json()[0]
    media = record["media_url"]
    assert media.startswith(app.config["PUBLIC_URL"])
    response = requests.get(
        live_server + media[len(app.config["PUBLIC_URL"]) :], timeout=10
    )
    assert response.status_code == 200  # the file, or the "being processed" image
    assert response.headers["Content-Type"].startswith("image/")

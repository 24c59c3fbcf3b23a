"""A real S3 API on this machine: moto's standalone server on a free local port."""

from __future__ import annotations

import logging
import uuid

import boto3

REGION = "us-east-1"
ACCESS_KEY_ID = "testing-key"
SECRET_ACCESS_KEY = "testing-secret"


class S3Server:
    """Starts moto's ThreadedMotoServer (the HTTP API boto3 talks to, not an
    in-process mock) and stops it on exit; its port is chosen by the kernel."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        # One line per request on stderr otherwise (werkzeug's access log).
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def __enter__(self) -> S3Server:
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.stop()

    def client(self):
        """Returns a boto3 client on the server, with the test's keys."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def new_bucket(self) -> str:
        """Creates an empty private bucket with a fresh name and returns the name."""
        name = f"repairdesk-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, prefix: str = "district") -> dict:
        """Returns the REPAIRDESK_ settings that put the photos in the bucket."""
        return {
            "PHOTO_STORE": f"s3://{bucket}/{prefix}",
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }

    def keys(self, bucket: str) -> list[str]:
        """Returns every object key in the bucket, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(
            item["Key"] for page in pages for item in page.get("Contents", ())
        )

"""Photos in S3-compatible object storage (AWS S3, Alibaba OSS, Tencent COS, MinIO
and other on-premises servers) through boto3.

One bucket, one prefix: display copies and thumbnails under ``PREFIX/photos/``,
originals waiting for the photo job under ``PREFIX/private/originals/``. Nothing
is ever public (objects are written without an ACL, so they are the bucket
owner's alone): every photo goes out through our own signed routes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from repair.photos.processing import (
    SHA256_HEX,
    VARIANTS,
    ProcessedPhoto,
    StoredFile,
    parse_variant_name,
    variant_order,
)
from repair.photos.store import KeptOriginal

_MISSING = {"404", "NoSuchKey", "NotFound"}


def parse_location(location: str) -> tuple[str, str]:
    """Returns (bucket, key prefix) of s3://BUCKET/PREFIX; ValueError if bad."""
    parts = urlsplit(location)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"not an s3://BUCKET/PREFIX location: {location!r}")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3Client:
    """A boto3 S3 client made on first use in each process (a forked worker or
    web worker must not share its parent's connections)."""

    def __init__(self, config: Mapping) -> None:
        self.options = client_options(config)
        self._client = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self):
        """Returns this process's client."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    import boto3

                    self._client = boto3.session.Session().client("s3", **self.options)
                    self._pid = os.getpid()
        return self._client


def client_options(config: Mapping) -> dict:
    """Returns boto3 client arguments from the S3_* settings; credentials left
    empty come from boto3's own chain (environment, ~/.aws, instance roles)."""
    from botocore.config import Config

    options: dict = {
        "config": Config(
            s3={"addressing_style": config.get("S3_ADDRESSING_STYLE") or "auto"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # Alibaba OSS, Tencent COS and older on-premises servers refuse the
            # newer default checksum headers; the content hash is ours anyway.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    }
    for option, key in (
        ("endpoint_url", "S3_ENDPOINT_URL"),
        ("region_name", "S3_REGION"),
        ("aws_access_key_id", "S3_ACCESS_KEY_ID"),
        ("aws_secret_access_key", "S3_SECRET_ACCESS_KEY"),
    ):
        if config.get(key):
            options[option] = str(config[key])
    return options


def is_missing(error: Exception) -> bool:
    """Returns whether a botocore ClientError says the object does not exist."""
    code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
    return code in _MISSING


class _Bucket:
    """The calls both stores make: head, get, put, delete, list."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def has(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.get().head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_missing(error):
                return False
            raise
        return True

    def get(self, key: str):
        """Returns get_object's answer, or None if the object does not exist."""
        from botocore.exceptions import ClientError

        try:
            return self.client.get().get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_missing(error):
                return None
            raise

    def read(self, key: str) -> bytes:
        answer = self.get(key)
        if answer is None:
            raise FileNotFoundError(f"s3://{self.bucket}/{key}")
        with answer["Body"] as body:
            return body.read()

    def put(self, key: str, content: bytes, content_type: str) -> None:
        self.client.get().put_object(
            Bucket=self.bucket, Key=key, Body=content, ContentType=content_type
        )

    def delete(self, *keys: str) -> None:
        self.client.get().delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )

    def listing(self, prefix: str) -> Iterator[dict]:
        """Yields every object under the prefix (Key, LastModified, Size …)."""
        pages = self.client.get().get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", ())


def _checked(sha256: str) -> str:
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lowercase SHA-256 hex digest: {sha256!r}")
    return sha256


class S3PhotoStore:
    """Display copies and thumbnails: PREFIX/photos/ab/<sha256>.jpg and
    PREFIX/photos/ab/<sha256>.thumb.jpg."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.objects = _Bucket(client, bucket, prefix)
        self.root = f"{prefix}photos/"

    def key(self, sha256: str, variant: str = "display") -> str:
        """Returns a variant's object key; ValueError for a bad name or variant."""
        _checked(sha256)
        if variant not in VARIANTS:
            raise ValueError(f"unknown photo variant: {variant!r}")
        return f"{self.root}{sha256[:2]}/{sha256}{VARIANTS[variant]}"

    def save(self, photo: ProcessedPhoto) -> None:
        """Uploads both variants, thumbnail first; saving twice is harmless."""
        if hashlib.sha256(photo.display).hexdigest() != photo.sha256:
            raise ValueError("photo.sha256 is not the hash of photo.display")
        for variant, content in (
            ("thumbnail", photo.thumbnail),
            ("display", photo.display),
        ):
            if not self.exists(photo.sha256, variant):
                self.put(photo.sha256, variant, content)

    def exists(self, sha256: str, variant: str = "display") -> bool:
        """Returns whether the variant is stored."""
        return self.objects.has(self.key(sha256, variant))

    def read(self, sha256: str, variant: str = "display") -> bytes:
        """Returns a variant's bytes; FileNotFoundError if it is not stored."""
        return self.objects.read(self.key(sha256, variant))

    def open(self, sha256: str, variant: str = "display") -> StoredFile | None:
        """Returns the variant as a stream from the object store, or None."""
        answer = self.objects.get(self.key(sha256, variant))
        if answer is None:
            return None
        return StoredFile(answer["Body"], int(answer["ContentLength"]))

    def put(self, sha256: str, variant: str, content: bytes) -> None:
        """Uploads one variant as it is."""
        self.objects.put(self.key(sha256, variant), content, "image/jpeg")

    def names(self) -> Iterator[tuple[str, str]]:
        """Yields (sha256, variant) of every stored object, thumbnails first."""
        found = (
            parse_variant_name(item["Key"].rsplit("/", 1)[-1])
            for item in self.objects.listing(self.root)
        )
        yield from sorted(filter(None, found), key=variant_order)


class S3OriginalStore:
    """Originals as they came, under PREFIX/private/originals/ab/<sha256> (and a
    small .preview beside one for a form shown again)."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.objects = _Bucket(client, bucket, prefix)
        self.root = f"{prefix}private/originals/"
        self.kept_root = f"{prefix}private/kept/"

    def key(self, sha256: str, variant: str = "") -> str:
        """Returns an original's (or its preview's) object key; ValueError if bad."""
        _checked(sha256)
        if variant not in ("", ".preview"):
            raise ValueError(f"unknown original variant: {variant!r}")
        return f"{self.root}{sha256[:2]}/{sha256}{variant}"

    def save(self, raw: bytes, client: str = "") -> str:
        """Uploads the original and returns its hash; uploading again renews its
        last-modified time, so a kept photo used again starts its expiry again.
        With ``client`` a marker PREFIX/private/kept/<sha256> names who sent it
        until it is released (the quotas of kept originals)."""
        sha256 = hashlib.sha256(raw).hexdigest()
        self.objects.put(self.key(sha256), raw, "application/octet-stream")
        if client:
            self.objects.put(
                self.kept_key(sha256), client.encode("ascii"), "text/plain"
            )
        return sha256

    def kept_key(self, sha256: str) -> str:
        """Returns the key of an original's kept marker; ValueError if bad."""
        _checked(sha256)
        return f"{self.kept_root}{sha256}"

    def kept(self) -> list[KeptOriginal]:
        """Returns the kept originals, oldest first; drops markers whose original is
        gone."""
        originals = {
            item["Key"].rsplit("/", 1)[-1]: item
            for item in self.objects.listing(self.root)
        }
        found = []
        for marker in self.objects.listing(self.kept_root):
            sha256 = marker["Key"].rsplit("/", 1)[-1]
            if not SHA256_HEX.fullmatch(sha256):
                continue
            original = originals.get(sha256)
            if original is None:
                self.objects.delete(marker["Key"])
                continue
            try:
                client = self.objects.read(marker["Key"]).decode("ascii", "replace")
            except FileNotFoundError:
                continue
            found.append(
                KeptOriginal(
                    sha256,
                    client,
                    int(original["Size"]),
                    original["LastModified"].timestamp(),
                )
            )
        return sorted(found, key=lambda item: (item.saved_at, item.sha256))

    def release(self, sha256: str) -> None:
        """Stops counting an original as kept: a ticket refers to it now."""
        self.objects.delete(self.kept_key(sha256))

    def exists(self, sha256: str) -> bool:
        """Returns whether the original is kept."""
        return self.objects.has(self.key(sha256))

    def read(self, sha256: str) -> bytes:
        """Returns the original's bytes; FileNotFoundError if it is gone."""
        return self.objects.read(self.key(sha256))

    def delete(self, sha256: str) -> None:
        """Deletes the original and its preview (absent ones are no error)."""
        self.objects.delete(
            self.key(sha256), self.key(sha256, ".preview"), self.kept_key(sha256)
        )

    def older_than(self, seconds: float, now: float | None = None) -> Iterator[str]:
        """Yields the hashes of originals last uploaded more than ``seconds`` ago."""
        moment = now if now is not None else datetime.now(UTC).timestamp()
        cutoff = datetime.fromtimestamp(moment - seconds, UTC)
        for item in self.objects.listing(self.root):
            name = item["Key"].rsplit("/", 1)[-1]
            if SHA256_HEX.fullmatch(name) and item["LastModified"] < cutoff:
                yield name

    def read_preview(self, sha256: str) -> bytes | None:
        """Returns the small preview kept beside an original, or None."""
        try:
            return self.objects.read(self.key(sha256, ".preview"))
        except FileNotFoundError:
            return None

    def save_preview(self, sha256: str, data: bytes) -> None:
        """Keeps a small preview beside an original."""
        self.objects.put(self.key(sha256, ".preview"), data, "image/jpeg")

    def names(self) -> Iterator[str]:
        """Yields the hash of every kept original."""
        for item in self.objects.listing(self.root):
            name = item["Key"].rsplit("/", 1)[-1]
            if SHA256_HEX.fullmatch(name):
                yield name


def open_s3_stores(
    location: str, config: Mapping
) -> tuple[S3PhotoStore, S3OriginalStore]:
    """Returns the photo store and originals' store at s3://BUCKET/PREFIX."""
    bucket, prefix = parse_location(location)
    client = S3Client(config)
    return S3PhotoStore(client, bucket, prefix), S3OriginalStore(client, bucket, prefix)

"""The S3 path, against moto's S3-compatible server on 127.0.0.1 (no network beyond loopback):
upload, dedup, byte-exact originals through signed URLs, their expiry, purge and ZIPs.

moto checks neither presigned signatures nor their expiry, so the expiry test checks what
the bucket itself enforces: that X-Amz-Expires is the configured lifetime and that it is
covered by the signature (recomputed here with botocore), so it cannot be extended.
"""

from __future__ import annotations

import io
import socket
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from gallery import services
from gallery.models import Image
from tests.gallery.conftest import body_of
from tests.images import make_png

pytestmark = pytest.mark.django_db

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

KEY, SECRET, REGION = "studio-test-key", "studio-test-secret", "us-east-1"
EXPIRE = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings):
    """A fresh bucket, and Django's default storage pointed at it for this test."""
    name = f"studio-{uuid.uuid4().hex[:12]}"
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "access_key": KEY,
                "secret_key": SECRET,
                "region_name": REGION,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "querystring_auth": True,
                "querystring_expire": EXPIRE,
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    settings.STUDIO_MEDIA_REDIRECT = True
    client.bucket = name  # type: ignore[attr-defined]
    return client


def keys(client, prefix: str = "") -> list[str]:
    listing = client.list_objects_v2(Bucket=client.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def fetch(url: str) -> tuple[bytes, Message]:
    assert urlparse(url).hostname == "127.0.0.1"
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read(), response.headers


def test_upload_is_byte_exact_and_deduplicated(bucket):
    data = make_png(40, 30, "maroon")
    first = services.save_image_file(data=data, mime_type="image/png")
    second = services.save_image_file(data=data, mime_type="image/png")
    assert first.name == second.name
    assert keys(bucket, "images/") == [first.name]
    stored = bucket.get_object(Bucket=bucket.bucket, Key=first.name)["Body"].read()
    assert stored == data


def test_original_through_a_signed_url_is_byte_exact(bucket, cast, make_image):
    image = make_image(cast.owner)
    assert keys(bucket) == sorted([image.file.name, image.thumbnail.name])
    original = cast.client("teammate").get(reverse("gallery:original", args=[image.pk]))
    assert original.status_code == 302 and original["Cache-Control"] == "private, no-store"
    body, headers = fetch(original["Location"])
    assert services.imaging.sha256_hex(body) == image.sha256 and len(body) == image.byte_size
    assert headers["Content-Type"] == "image/png"
    download = cast.client("teammate").get(reverse("gallery:original", args=[image.pk]), {"download": "1"})
    _, headers = fetch(download["Location"])
    assert headers["Content-Disposition"] == f'attachment; filename="{image.download_name}"'
    thumb = cast.client("teammate").get(reverse("gallery:thumbnail", args=[image.pk]))
    body, headers = fetch(thumb["Location"])
    assert body[8:12] == b"WEBP" and headers["Content-Type"] == "image/webp"
    # Nobody else gets a URL at all.
    assert cast.client("outsider").get(reverse("gallery:original", args=[image.pk])).status_code == 404


def test_signed_url_expires_and_its_expiry_is_signed(bucket, cast, make_image, monkeypatch):
    import botocore.auth

    image = make_image(cast.owner)
    location = cast.client("owner").get(reverse("gallery:original", args=[image.pk]))["Location"]
    parsed = urlparse(location)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert int(query["X-Amz-Expires"]) == EXPIRE
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    assert abs(signed_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(seconds=30)

    # Sign the same request again at the same instant with botocore: the signatures
    # match for our lifetime and differ for any other, so the lifetime cannot be edited.
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: signed_at)
    params = {
        "Bucket": bucket.bucket,
        "Key": image.file.name,
        "ResponseContentType": query["response-content-type"],
        "ResponseContentDisposition": query["response-content-disposition"],
    }

    def signature(expires: int) -> str:
        url = bucket.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        return parse_qs(urlparse(url).query)["X-Amz-Signature"][0]

    assert signature(EXPIRE) == query["X-Amz-Signature"]
    assert signature(EXPIRE * 1000) != query["X-Amz-Signature"]


def test_streaming_instead_of_redirects(bucket, cast, make_image, settings):
    settings.STUDIO_MEDIA_REDIRECT = False
    image = make_image(cast.owner)
    response = cast.client("owner").get(reverse("gallery:original", args=[image.pk]))
    assert response.status_code == 200 and body_of(response) == services.load_image_bytes(image)


def test_svg_is_never_handed_to_the_bucket(bucket, cast, make_image):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'
    image = make_image(cast.owner, data=svg, mime_type="image/svg+xml")
    response = cast.client("owner").get(reverse("gallery:original", args=[image.pk]))
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]
    assert body_of(response) == bucket.get_object(Bucket=bucket.bucket, Key=image.file.name)["Body"].read()


def test_board_zip_streams_from_the_bucket(bucket, cast, make_image):
    images = [make_image(cast.owner, prompt=f"z{n}") for n in range(3)]
    board = services.create_board(user=cast.owner.user, team_id=cast.team.pk, name="S3")
    services.add_images_to_board(board=board, user=cast.owner.user, image_ids=[i.pk for i in images])
    response = cast.client("teammate").get(reverse("gallery:board_zip", args=[board.pk]))
    with zipfile.ZipFile(io.BytesIO(body_of(response))) as archive:
        for image in images:
            assert archive.read(image.download_name) == services.load_image_bytes(image)


def test_purge_removes_objects_no_row_needs(bucket, cast, make_image):
    shared = make_png(20, 20, "gold")
    keep = make_image(cast.owner, data=shared)
    twin = make_image(cast.owner, data=shared)
    alone = make_image(cast.owner, data=make_png(20, 20, "pink"))
    for image in (twin, alone):
        services.delete_image(image=image, user=cast.owner.user)
    Image.objects.filter(pk__in=[twin.pk, alone.pk]).update(deleted_at=datetime.now(UTC) - timedelta(days=31))
    assert services.purge_deleted_images() == 2
    assert keys(bucket) == sorted([keep.file.name, keep.thumbnail.name])

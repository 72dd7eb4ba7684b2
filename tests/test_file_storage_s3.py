"""FILE_STORAGE=s3: conversation files in a private bucket of an S3-compatible store, against a real S3 API.

The store is moto's S3 server on a local port (the same HTTP API as AWS S3 or
MinIO); django-storages talks to it exactly as it would to the real thing.
"""

from __future__ import annotations

import io
import json
import sys

import boto3
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from moto.server import ThreadedMotoServer
from PIL import Image

from channels_app.engine import attachments, inbound
from channels_app.models import Attachment
from tests.channels_app.engine_support import make_channel, make_operator
from tests.environments import run_in_project, without_debug_or_keys
from tests.net import free_port

BUCKET = "contact-center-files"
CREDENTIALS = {"S3_ACCESS_KEY_ID": "test-key", "S3_SECRET_ACCESS_KEY": "test-secret", "S3_REGION": "eu-central-1"}

SCRIPT = """
import json
from django.conf import settings
print(json.dumps(settings.STORAGES["default"]))
"""


def test_the_settings_choose_the_bucket_from_the_environment(tmp_path):
    environment = {
        **without_debug_or_keys(env_file=tmp_path / ".env"),
        "DEBUG": "true",
        "FILE_STORAGE": "s3",
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": "http://minio.internal:9000",
        "S3_PREFIX": "cc",
        **CREDENTIALS,
    }
    result = run_in_project([sys.executable, "-c", SCRIPT], environment)
    assert result.returncode == 0, result.stderr
    storage = json.loads(result.stdout)
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["location"]) == (
        BUCKET,
        "http://minio.internal:9000",
        "cc",
    )
    # Files are private: no public-read ACL, and never overwritten by a name clash.
    assert options["default_acl"] is None and options["file_overwrite"] is False


def test_an_unknown_storage_kind_is_refused_with_the_choices(tmp_path):
    environment = {**without_debug_or_keys(env_file=tmp_path / ".env"), "DEBUG": "true", "FILE_STORAGE": "ftp"}
    result = run_in_project([sys.executable, "-c", SCRIPT], environment)
    assert result.returncode != 0
    assert "FILE_STORAGE must be 'local' or 's3'" in result.stderr


@pytest.fixture
def bucket(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["S3_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["S3_SECRET_ACCESS_KEY"],
        region_name=CREDENTIALS["S3_REGION"],
    )
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["S3_REGION"]})
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": CREDENTIALS["S3_REGION"],
                "access_key": CREDENTIALS["S3_ACCESS_KEY_ID"],
                "secret_key": CREDENTIALS["S3_SECRET_ACCESS_KEY"],
                "file_overwrite": False,
                "default_acl": None,
            },
        },
    }
    yield client
    server.stop()


def keys(client) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


@pytest.mark.django_db(transaction=True)
def test_files_are_stored_served_and_deleted_in_the_bucket(bucket, client):
    olga = make_operator("olga")
    channel = make_channel([olga])
    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(picture, format="PNG")
    incoming = attachments.file_store_upload(
        open_channel=channel,
        upload=SimpleUploadedFile("chart.png", picture.getvalue(), "image/png"),
        name="chart.png",
        mime_type="image/png",
    )
    result = inbound.message_receive(
        connector=channel.connectors.get(),
        external_user_id="anna",
        text="",
        source_message_id=None,
        now=timezone.now(),
        files=[incoming],
    )
    attachment = Attachment.objects.get(message=result.message)
    assert keys(bucket) == sorted([attachment.file.name, attachment.thumbnail.name])

    client.force_login(olga)
    response = client.get(attachment.url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == picture.getvalue()
    assert client.get(attachment.thumbnail_url).status_code == 200

    result.conversation.delete()
    assert keys(bucket) == []

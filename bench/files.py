"""Benchmark of files in conversations (issue 14): what storing, showing and serving a file costs.

In one process, on a dedicated database ``bench_files`` of the embedded PostgreSQL and a temporary
``MEDIA_ROOT``, it times:

- storing an upload (``engine.attachments.file_store_upload``): a 12-megapixel JPEG photo (the thumbnail is
  most of it) and a 1 MB PDF (no thumbnail);
- a client's message on the inbound path (``engine.inbound.message_receive``) with text only, and with one
  stored file: what a file row adds to the message path;
- serving a 1 MB PDF and a thumbnail through ``/files/<id>/`` (Django's test client, a signed-in operator:
  the access check, the storage read, the response).

Beside it, in the same run, the reference of every bench here: pgbench's simple-update TPS with one client on
the same server (:mod:`bench.reference`), and each figure's operations per second as a share of it.

Usage::

    .venv/bin/python bench/files.py            # 30 runs each
    .venv/bin/python bench/files.py --runs 100
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-files-")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")

from bench.reference import p50_p95, timed  # noqa: E402 -- after the path and settings above

DATABASE = "bench_files"


def prepare_database() -> None:
    import django
    import psycopg

    django.setup()
    from contact_center import embedded

    embedded.start()
    socket_dir = str(embedded.postgres_socket_dir())
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    from django.conf import settings
    from django.db import connections

    settings.DATABASES["default"]["NAME"] = DATABASE
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = DATABASE
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def report(label: str, samples: list[float], reference_tps: float) -> None:
    p50, p95 = p50_p95(samples)
    per_second = 1000 / p50
    print(
        f"{label:<52} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {per_second:7.1f}/s   "
        f"{100 * per_second / reference_tps:6.1f} % of pgbench"
    )


def photo_jpeg() -> bytes:
    from PIL import Image

    # A phone photo: 4000 × 3000, with detail so the encoder works as on a real picture.
    image = Image.effect_noise((4000, 3000), 64).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    prepare_database()
    from bench.reference import pgbench_tps

    tps = pgbench_tps(clients=1, seconds=10)
    print(f"reference: pgbench simple-update (-N), 1 client, 10 s, scale 10: {tps:,.0f} tps\n")

    from itertools import count

    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client as HttpClient
    from django.utils import timezone

    from channels_app.engine.attachments import file_store_upload
    from channels_app.engine.inbound import message_receive
    from channels_app.models import Attachment, Connector, OpenChannel, OperatorProfile, QueueMember

    channel = OpenChannel.objects.create(name="Bench files", welcome_enabled=False, max_file_megabytes=20)
    connector = Connector.objects.create(open_channel=channel, kind="livechat", account_id="bench-files")
    operator = get_user_model().objects.create(username="bench-operator", first_name="Bench")
    OperatorProfile.objects.create(user=operator)
    QueueMember.objects.create(open_channel=channel, operator=operator, position=0)

    photo = photo_jpeg()
    pdf = b"%PDF-1.4\n" + os.urandom(1024 * 1024)
    print(f"files: a {len(photo) / 1e6:.1f} MB 4000×3000 JPEG, a {len(pdf) / 1e6:.1f} MB PDF; {args.runs} runs each")

    def store(name: str, content: bytes, mime: str):
        return file_store_upload(
            open_channel=channel, upload=SimpleUploadedFile(name, content, mime), name=name, mime_type=mime
        )

    report("store an upload: 12 MP photo (with its thumbnail)", timed(lambda: store("p.jpg", photo, "image/jpeg"),
                                                                         args.runs), tps)  # fmt: skip
    report("store an upload: 1 MB PDF", timed(lambda: store("i.pdf", pdf, "application/pdf"), args.runs), tps)

    visitors = count()
    small = store("s.pdf", b"%PDF-1.4 small", "application/pdf")

    def receive(files):
        message_receive(
            connector=connector,
            external_user_id=f"visitor-{next(visitors)}",
            text="Hello, here is my receipt",
            source_message_id=None,
            now=timezone.now(),
            files=files,
        )

    report("inbound message, a new conversation, text only", timed(lambda: receive(None), args.runs), tps)
    with_file = timed(lambda: receive([small]), args.runs)
    report("inbound message, a new conversation, one stored file", with_file, tps)

    receive([store("invoice.pdf", pdf, "application/pdf"), store("photo.jpg", photo, "image/jpeg")])
    ready = Attachment.objects.get(name="invoice.pdf")
    image = Attachment.objects.get(name="photo.jpg")
    http = HttpClient()
    http.force_login(operator)

    def fetch(url: str) -> None:
        response = http.get(url)
        assert response.status_code == 200, response.status_code
        for _ in response.streaming_content:
            pass

    report("serve /files/<id>/: 1 MB PDF to its operator", timed(lambda: fetch(ready.url), args.runs), tps)
    report("serve /files/<id>/thumbnail/ to its operator", timed(lambda: fetch(image.thumbnail_url), args.runs), tps)


if __name__ == "__main__":
    main()

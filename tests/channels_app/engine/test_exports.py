"""Issue 19, point 1: a client's or a CRM contact's data exported as one archive, in the background.

The build runs through the Celery task, eagerly (as ``jobs.enqueue`` does when ``task_always_eager`` is on), after
the request's commit: ``django_capture_on_commit_callbacks(execute=True)`` runs what the commit would.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from channels_app import tasks
from channels_app.engine import exports
from channels_app.engine.attachments import attachments_add, file_store_upload
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.models import (
    AuditAction,
    AuditEvent,
    ClientRating,
    ConsentForm,
    ConsentRecord,
    ConversationNote,
    ConversationStatus,
    DataExport,
    Message,
)
from crm.models import Lead
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ContactFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 the invoice of the client"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def ada(db):
    administrator = UserFactory(username="ada", roles=["Administrators"])
    return administrator


@pytest.fixture
def olga(db):
    return OperatorFactory(username="olga", first_name="Olga")


@pytest.fixture
def support(db):
    return OpenChannelFactory(name="Support", welcome_enabled=False)


def _message(conversation, author_kind, text, at, **fields):
    return Message.objects.create(
        conversation=conversation,
        connector=conversation.connector,
        author_kind=author_kind,
        text=text,
        created_at=at,
        **fields,
    )


@pytest.fixture
def alice(support, olga):
    """Alice (live chat) with two conversations: a file, a private note, a rating, a consent, a deleted message."""
    now = timezone.now()
    client = ClientFactory(
        connector=ConnectorFactory(open_channel=support, kind="livechat"),
        name="Alice Liddell",
        email="alice@example.com",
        phone="+48 600 100 200",
    )
    first = ConversationFactory(
        client=client,
        status=ConversationStatus.CLOSED,
        operator=olga,
        created_at=now - timedelta(days=2),
        closed_at=now - timedelta(days=2) + timedelta(minutes=30),
    )
    _message(first, Message.Author.CLIENT, "Where is my parcel?", now - timedelta(days=2))
    reply = _message(first, Message.Author.OPERATOR, "Here is the invoice.", now - timedelta(days=2), author=olga)
    incoming = file_store_upload(
        open_channel=support,
        upload=SimpleUploadedFile("invoice (12) ü.pdf", PDF, "application/pdf"),
        name="invoice (12) ü.pdf",
        mime_type="application/pdf",
    )
    attachments_add(reply, [incoming], now)
    ConversationNote.objects.create(conversation=first, author=olga, text="Staff only: VIP, be nice", created_at=now)
    ClientRating.objects.create(conversation=first, operator=olga, value="like", rated_at=now - timedelta(days=1))
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages for a year.")
    ConsentRecord.objects.create(
        client=client, form_version=form.current_version, conversation=first, source="livechat", accepted_at=now
    )
    second = ConversationFactory(client=client, created_at=now - timedelta(hours=1))
    _message(second, Message.Author.CLIENT, "Hello again", now - timedelta(hours=1))
    _message(
        second,
        Message.Author.CLIENT,
        "Oops, my password is hunter2",
        now - timedelta(minutes=59),
        deleted_at=now - timedelta(minutes=58),
        earlier_texts=["an earlier wording"],
    )
    return client


def _archive(export: DataExport) -> zipfile.ZipFile:
    with default_storage.open(export.file, "rb") as handle:
        return zipfile.ZipFile(io.BytesIO(handle.read()))


def _export(actor, django_capture_on_commit_callbacks, **subject) -> DataExport:
    with django_capture_on_commit_callbacks(execute=True):
        export = exports.export_request(actor=actor, now=timezone.now(), **subject)
    export.refresh_from_db()
    return export


def test_a_clients_archive_holds_what_the_client_saw_and_not_the_staffs_notes(
    ada, alice, eager_celery, django_capture_on_commit_callbacks
):
    export = _export(ada, django_capture_on_commit_callbacks, client_id=alice.pk)

    assert export.status == DataExport.Status.READY and export.progress == 100
    assert export.expires_at == export.finished_at + timedelta(hours=24)
    archive = _archive(export)
    data = json.loads(archive.read("data.json"))
    assert data["schema_version"] == exports.SCHEMA_VERSION
    assert data["subject"] == {"kind": "client", "id": alice.pk}
    (client,) = data["clients"]
    assert client["name"] == "Alice Liddell" and client["email"] == "alice@example.com"
    assert [c["text"] for c in client["consents"]] == ["We keep your messages for a year."]
    assert client["consents"][0]["source"] == "livechat"
    first, second = client["conversations"]
    assert first["rating"]["value"] == "like" and second["rating"] is None
    assert [m["text"] for m in first["messages"]] == ["Where is my parcel?", "Here is the invoice."]
    assert first["messages"][1]["author_name"] == "Olga"
    (invoice,) = first["messages"][1]["files"]
    assert invoice["name"] == "invoice (12) ü.pdf"
    assert invoice["path"] == f"files/{first['messages'][1]['id']}-invoice_12_ü.pdf"
    assert archive.read(invoice["path"]) == PDF
    # A message the client deleted is there as the widget shows it: in its place, without its text.
    assert [(m["text"], m["deleted"]) for m in second["messages"]] == [("Hello again", False), ("", True)]
    everything = b"".join(archive.read(name) for name in archive.namelist()).decode(errors="replace")
    for staff_only in ("Staff only: VIP", "hunter2", "an earlier wording"):
        assert staff_only not in everything
    assert archive.namelist() == [invoice["path"], "data.json"]


def test_the_request_and_the_download_are_audited(ada, alice, eager_celery, django_capture_on_commit_callbacks):
    export = _export(ada, django_capture_on_commit_callbacks, client_id=alice.pk)
    exports.export_download(actor=ada, public_id=export.public_id, now=timezone.now())

    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor_name", "client_id_ref", "detail"))
    assert events == [
        (AuditAction.EXPORT_REQUESTED, "ada", alice.pk, {"export": str(export.public_id)}),
        (AuditAction.EXPORT_DOWNLOADED, "ada", alice.pk, {"export": str(export.public_id)}),
    ]


def test_a_contacts_export_spans_its_clients_of_every_source_and_its_leads(
    ada, alice, support, eager_celery, django_capture_on_commit_callbacks
):
    contact = ContactFactory(full_name="Alice Liddell", email="alice@example.com")
    telegram_alice = ClientFactory(
        connector=ConnectorFactory(open_channel=support, kind="telegram", account_id="support-bot"),
        name="alice_tg",
        contact=contact,
    )
    ConversationFactory(client=telegram_alice)
    _message(telegram_alice.conversations.get(), Message.Author.CLIENT, "From Telegram", timezone.now())
    alice.contact = contact
    alice.save(update_fields=["contact"])
    Lead.objects.create(title="Parcel lost", contact=contact, full_name="Alice Liddell", source="livechat")
    ClientFactory(name="Somebody else")  # not linked: not in the archive

    export = _export(ada, django_capture_on_commit_callbacks, contact_id=contact.pk)

    data = json.loads(_archive(export).read("data.json"))
    assert data["contact"]["full_name"] == "Alice Liddell"
    assert sorted(c["source"] for c in data["clients"]) == ["livechat", "telegram"]
    texts = [m["text"] for c in data["clients"] for conv in c["conversations"] for m in conv["messages"]]
    assert "From Telegram" in texts and "Where is my parcel?" in texts
    assert [lead["title"] for lead in data["leads"]] == ["Parcel lost"]
    assert "Somebody else" not in json.dumps(data)


def test_a_build_runs_once_and_reports_progress(ada, alice, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(exports.jobs, "enqueue", lambda name, *args: queued.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        export = exports.export_request(actor=ada, client_id=alice.pk, now=timezone.now())
    assert queued == [(exports.jobs.BUILD_DATA_EXPORT, (export.pk,))]
    assert DataExport.objects.get().status == DataExport.Status.QUEUED

    seen = []
    real_progress = exports._progress
    monkeypatch.setattr(
        exports, "_progress", lambda pk, done, total: (real_progress(pk, done, total), seen.append(done * 100 // total))
    )
    assert tasks.build_data_export(export.pk) == DataExport.Status.READY
    assert seen == [50, 100]
    first_file = DataExport.objects.get().file
    # Delivered twice (acks_late): the second run leaves the finished export alone.
    assert tasks.build_data_export(export.pk) is None
    assert DataExport.objects.get().file == first_file


def test_a_failed_build_says_why(ada, alice, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(exports.jobs, "enqueue", lambda name, *args: None)
    export = exports.export_request(actor=ada, client_id=alice.pk, now=timezone.now())

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports.shutil, "copyfileobj", broken)
    exports.export_build(export_id=export.pk, now=timezone.now())

    export.refresh_from_db()
    assert export.status == DataExport.Status.FAILED and "disk full" in export.error
    assert export.file == ""
    assert not default_storage.exists("exports") or default_storage.listdir("exports")[1] == []  # nothing left


def test_after_expiry_the_download_is_gone_and_the_sweep_deletes_the_file(
    ada, alice, eager_celery, django_capture_on_commit_callbacks
):
    export = _export(ada, django_capture_on_commit_callbacks, client_id=alice.pk)
    later = export.expires_at + timedelta(seconds=1)
    with pytest.raises(exports.ExportExpired):
        exports.export_download(actor=ada, public_id=export.public_id, now=later)

    with django_capture_on_commit_callbacks(execute=True):
        assert exports.export_sweep(now=later) == 1
    assert not default_storage.exists(export.file)
    export.refresh_from_db()
    assert export.status == DataExport.Status.EXPIRED and export.file == ""
    assert exports.export_sweep(now=later) == 0
    with pytest.raises(exports.ExportExpired) as refusal:
        exports.export_download(actor=ada, public_id=export.public_id, now=later)
    assert refusal.value.status_code == 410


def test_requests_that_cannot_be_honoured_change_nothing(ada, olga, alice, monkeypatch):
    monkeypatch.setattr(exports.jobs, "enqueue", lambda name, *args: None)
    now = timezone.now()
    with pytest.raises(NotAllowed):
        exports.export_request(actor=olga, client_id=alice.pk, now=now)
    with pytest.raises(ServiceError):
        exports.export_request(actor=ada, now=now)
    with pytest.raises(ServiceError):
        exports.export_request(actor=ada, client_id=alice.pk, contact_id=ContactFactory().pk, now=now)
    with pytest.raises(NotFound):
        exports.export_request(actor=ada, client_id=999_999, now=now)
    with pytest.raises(NotFound):
        exports.export_request(actor=ada, contact_id=999_999, now=now)
    assert not DataExport.objects.exists() and not AuditEvent.objects.exists()

    export = exports.export_request(actor=ada, client_id=alice.pk, now=now)
    with pytest.raises(InvalidState):
        exports.export_download(actor=ada, public_id=export.public_id, now=now)
    with pytest.raises(NotAllowed):
        exports.export_download(actor=olga, public_id=export.public_id, now=now)
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED).count() == 0


def test_an_erased_client_leaves_the_export_row(ada, alice, eager_celery, django_capture_on_commit_callbacks):
    """Erasure may delete the client: the export and its audit stay (SET_NULL), with neither subject."""
    export = _export(ada, django_capture_on_commit_callbacks, client_id=alice.pk)
    DataExport.objects.filter(pk=export.pk).update(client=None)
    export.refresh_from_db()
    assert export.client_id is None and export.contact_id is None

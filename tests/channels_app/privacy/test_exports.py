"""Issue 19, point 1: the administrators' doors to a data export: REST, the download, and the admin's action."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.models import AuditAction, AuditEvent, DataExport, Message
from tests.factories import ClientFactory, ContactFactory, ConversationFactory, OpenChannelFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the build runs on the request's commit


@pytest.fixture(autouse=True)
def eager(settings, tmp_path, eager_celery):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def ada(transactional_db):
    administrator = UserFactory(username="ada", roles=["Administrators"])
    return administrator


@pytest.fixture
def sam(transactional_db):
    """A supervisor of the client's open channel: reads its conversations, may not export anybody's data."""
    supervisor = UserFactory(username="sam", roles=["Supervisors"])
    return supervisor


@pytest.fixture
def alice(transactional_db, sam):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    channel.supervisors.add(sam)
    client = ClientFactory(connector__open_channel=channel, name="Alice Liddell")
    conversation = ConversationFactory(client=client)
    Message.objects.create(
        conversation=conversation, connector=client.connector, author_kind="client", text="Hello",
        created_at=timezone.now(),
    )  # fmt: skip
    return client


def _post(http, body):
    return http.post(reverse("api-privacy-exports"), json.dumps(body), content_type="application/json")


def test_an_administrator_exports_over_rest_and_downloads_the_zip(client, ada, alice):
    client.force_login(ada)
    answer = _post(client, {"client": alice.pk})
    assert answer.status_code == 202
    state = answer.json()
    export = DataExport.objects.get()
    assert state["id"] == str(export.public_id) and state["status"] == "ready" and state["progress"] == 100
    assert state["download_url"] == reverse("privacy-export-download", args=[export.public_id])
    assert client.get(reverse("api-privacy-export", args=[export.public_id])).json() == state

    download = client.get(state["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert json.loads(archive.read("data.json"))["clients"][0]["name"] == "Alice Liddell"
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED, actor=ada).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"client": 1, "contact": 1},
        {"client": "Alice"},
        {"client": True},
        {"contact": [1]},
        {"client": 0},
        {"client": 2**63},
        {"client": None},
    ],
)
def test_bad_requests_are_refused_and_change_nothing(client, ada, alice, body):
    client.force_login(ada)
    answer = _post(client, body)
    assert answer.status_code == 400, answer.content
    assert not DataExport.objects.exists() and not AuditEvent.objects.exists()


def test_unknown_subjects_and_exports_are_404(client, ada):
    client.force_login(ada)
    assert _post(client, {"client": 999_999}).status_code == 404
    assert _post(client, {"contact": 999_999}).status_code == 404
    unknown = "6f1c1f3e-0d55-4a8e-9b1e-000000000000"
    assert client.get(reverse("api-privacy-export", args=[unknown])).status_code == 404
    assert client.get(reverse("privacy-export-download", args=[unknown])).status_code == 404
    assert not DataExport.objects.exists()


def test_a_supervisor_may_neither_ask_nor_download(client, ada, sam, alice):
    admin_http = type(client)()
    admin_http.force_login(ada)
    export_id = _post(admin_http, {"client": alice.pk}).json()["id"]

    client.force_login(sam)
    assert _post(client, {"client": alice.pk}).status_code == 403
    assert client.get(reverse("api-privacy-export", args=[export_id])).status_code == 403
    assert client.get(reverse("privacy-export-download", args=[export_id])).status_code == 403
    assert DataExport.objects.count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED).exists()
    client.logout()
    answer = client.get(reverse("privacy-export-download", args=[export_id]))
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("admin:login"))


def test_a_download_is_409_before_ready_and_410_after_expiry(client, ada, alice):
    client.force_login(ada)
    export_id = _post(client, {"client": alice.pk}).json()["id"]
    url = reverse("privacy-export-download", args=[export_id])
    DataExport.objects.update(status=DataExport.Status.RUNNING)
    assert client.get(url).status_code == 409
    DataExport.objects.update(status=DataExport.Status.READY, expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url).status_code == 410
    assert client.get(reverse("api-privacy-export", args=[export_id])).json()["status"] == "ready"


def test_the_admin_action_on_a_client_opens_the_exports_page(client, ada, sam, alice):
    client.force_login(ada)
    changelist = reverse("admin:channels_app_client_changelist")
    answer = client.post(changelist, {"action": "export_personal_data", "_selected_action": [alice.pk]})
    export = DataExport.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:channels_app_dataexport_change", args=[export.pk])
    page = client.get(answer["Location"]).content.decode()
    assert export.download_url in page and 'value="100"' in page
    assert 'http-equiv="refresh"' not in page  # finished: the page stops reloading
    assert reverse("admin:channels_app_client_change", args=[alice.pk]) in page
    listed = client.get(reverse("admin:channels_app_dataexport_changelist")).content.decode()
    assert export.download_url in listed

    # Supervisors use the admin, but neither see the action nor the exports.
    client.force_login(sam)
    assert "export_personal_data" not in client.get(changelist).content.decode()
    assert client.get(reverse("admin:channels_app_dataexport_changelist")).status_code == 403
    client.post(changelist, {"action": "export_personal_data", "_selected_action": [alice.pk]})
    assert DataExport.objects.count() == 1


def test_a_queued_exports_page_reloads_itself(client, ada, alice):
    client.force_login(ada)
    export = DataExport.objects.create(client=alice, requested_by=ada, created_at=timezone.now())
    page = client.get(reverse("admin:channels_app_dataexport_change", args=[export.pk])).content.decode()
    assert 'http-equiv="refresh"' in page and export.download_url not in page


def test_the_admin_action_on_crm_contacts(client, ada, alice):
    contact = ContactFactory(full_name="Alice Liddell")
    alice.contact = contact
    alice.save(update_fields=["contact"])
    other = ContactFactory(full_name="Bob")
    client.force_login(ada)
    changelist = reverse("admin:crm_contact_changelist")
    assert "export_personal_data" in client.get(changelist).content.decode()
    answer = client.post(changelist, {"action": "export_personal_data", "_selected_action": [contact.pk, other.pk]})
    assert answer.status_code == 302
    assert answer["Location"] == reverse("admin:channels_app_dataexport_changelist")
    assert sorted(DataExport.objects.values_list("contact_id", flat=True)) == sorted([contact.pk, other.pk])

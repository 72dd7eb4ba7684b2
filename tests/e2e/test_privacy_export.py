"""Issue 19, point 1, in Chromium: an administrator exports a client's data from the admin and downloads the ZIP.

The live server runs Celery eagerly, so the export is built on the action's commit; its page shows the progress
bar full, the status "Ready" and the download link.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import AuditAction, AuditEvent, DataExport, Message
from tests.e2e.harness import wait_for
from tests.factories import ClientFactory, ConversationFactory, OpenChannelFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_exports_a_clients_data_and_downloads_it(new_context, cc_server, tmp_path):
    ada = UserFactory(username="ada", first_name="Ada", roles=["Administrators"])
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    client = ClientFactory(connector__open_channel=channel, name="Alice Liddell")
    conversation = ConversationFactory(client=client)
    Message.objects.create(
        conversation=conversation, connector=client.connector, author_kind="client", text="Where is my parcel?",
        created_at=timezone.now(),
    )  # fmt: skip

    page = new_context(ada).new_page()
    page.goto("/admin/channels_app/client/")
    page.locator(f"input[name=_selected_action][value='{client.pk}']").check()
    page.select_option("select[name=action]", "export_personal_data")
    page.get_by_role("button", name="Go").click()

    export = wait_for(lambda: DataExport.objects.first())
    expect(page).to_have_url(f"{cc_server.url}/admin/channels_app/dataexport/{export.pk}/change/")
    expect(page.locator("[data-export-progress]")).to_have_attribute("value", "100")
    expect(page.locator(".field-status")).to_contain_text("Ready")
    with page.expect_download() as download:
        page.locator("[data-export-download]").click()
    archive_path = tmp_path / "export.zip"
    download.value.save_as(archive_path)
    with zipfile.ZipFile(archive_path) as archive:
        data = json.loads(archive.read("data.json"))
    assert data["clients"][0]["name"] == "Alice Liddell"
    assert data["clients"][0]["conversations"][0]["messages"][0]["text"] == "Where is my parcel?"
    assert wait_for(lambda: AuditEvent.objects.filter(action=AuditAction.EXPORT_DOWNLOADED, actor=ada).exists())

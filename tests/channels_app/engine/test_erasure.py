"""Issue 19, point 2: erasing a client's personal data, searched for afterwards in every text column of the database
and in the file storage; the KPI figures unchanged; idempotent; the same messenger user writing again is new."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from channels_app.engine import inbound
from channels_app.engine.attachments import attachments_add, file_store_upload
from channels_app.engine.erasure import ERASED, client_erase, contact_erase
from channels_app.engine.errors import InvalidState, NotFound
from channels_app.engine.exports import export_build, export_request
from channels_app.models import (
    Attachment,
    AuditAction,
    AuditEvent,
    Client,
    ClientRating,
    ConsentForm,
    ConsentRecord,
    Conversation,
    ConversationNote,
    ConversationStatus,
    DataExport,
    InboundUpdate,
    Message,
    Notification,
)
from crm.models import Contact, Lead
from kpi.models import KpiMiss, ResponseRecord, SupervisorRating
from kpi.selectors import KpiPeriod, kpi_overview
from kpi.services import responses_record
from tests.factories import ConnectorFactory, UserFactory
from tests.files_support import attach_files_of_every_kind

NAME = "Zofia Quarkowska"
SURNAME = "Quarkowska"
USERNAME = "zquark77"
PHONE = "+48 600 777 888"
PHONE_DIGITS = "48600777888"
EMAIL = "zofia.quark@example.org"
SECRET = "Xylophonique"  # one word of a message: it is in the search words too
SOURCE_ID = "987654321"
NEEDLES = (NAME, SURNAME, USERNAME, PHONE, PHONE_DIGITS, EMAIL, SECRET, SECRET.lower())


@dataclass
class World:
    channel: object
    telegram: object
    operator: object
    client: Client
    conversation: Conversation
    other_client: Client
    contact: Contact
    lead: Lead
    now: object


@pytest.fixture
def world(open_channel, operators, media_root, django_capture_on_commit_callbacks, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    now = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    channel = open_channel
    channel.kpi_initial_enabled = True
    channel.kpi_initial_target_seconds = 10
    channel.save()
    olga = operators[0]
    telegram = ConnectorFactory(open_channel=channel, kind="telegram", account_id="erasure-bot")
    # The client's first message, through the engine as a messenger delivers it.
    result = inbound.message_receive(
        connector=telegram,
        external_user_id=SOURCE_ID,
        text=f"Hello, I am {NAME}, my passport word is {SECRET}",
        source_message_id="tg-1",
        now=now,
        client_name=NAME,
        client_username=USERNAME,
        client_phone=PHONE,
        client_email=EMAIL,
        button_payload=f"confirm:{EMAIL}",
    )
    client = Client.objects.get(connector=telegram, external_id=SOURCE_ID)
    conversation = Conversation.objects.get(client=client)
    first = Message.objects.get(pk=result.message.pk)
    # The client edited it in the messenger: the earlier wording is kept for staff.
    first.earlier_texts = [f"earlier: {SECRET} {PHONE}"]
    first.edited_at = now + timedelta(seconds=5)
    first.save(update_fields=["earlier_texts", "edited_at"])
    attach_files_of_every_kind(first, now)
    document = file_store_upload(
        open_channel=channel,
        upload=ContentFile(f"{NAME} {PHONE} {EMAIL} {SECRET}".encode()),
        name=f"{NAME} passport.txt",
        mime_type="text/plain",
    )
    attachments_add(first, [document], now)
    # The operator answers late (a K2 miss), quoting the client.
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.CLOSED,
        operator=olga,
        first_operator=olga,
        assigned_at=now,
        closed_at=now + timedelta(minutes=2),
    )
    Message.objects.create(
        conversation=conversation,
        connector=telegram,
        author_kind=Message.Author.OPERATOR,
        author=olga,
        text=f"Thank you {NAME}, we will call {PHONE} or write to {EMAIL} about {SECRET}.",
        created_at=now + timedelta(seconds=40),
        delivery=Message.Delivery.FAILED,
        delivery_error=f"provider refused the message to {NAME}",
    )
    responses_record(conversation_id=conversation.pk, now=now + timedelta(minutes=3))
    assert KpiMiss.objects.filter(conversation=conversation).update(text=f"Olga missed {NAME}: {SECRET}") == 1
    ConversationNote.objects.create(
        conversation=conversation, author=olga, text=f"{NAME} called from {PHONE}", created_at=now
    )
    Notification.objects.create(
        recipient=olga, kind="mention", conversation=conversation, text=f"{NAME}: {SECRET}", created_at=now
    )
    ClientRating.objects.create(conversation=conversation, operator=olga, value="like", rated_at=now)
    boss = UserFactory(username="boss")
    SupervisorRating.objects.create(
        conversation=conversation, operator=olga, supervisor=boss, score=5, comment=f"Kind to {NAME}", created_at=now
    )
    contact = Contact.objects.create(full_name=NAME, phone=PHONE, email=EMAIL)
    Client.objects.filter(pk=client.pk).update(contact=contact, avatar_url="https://t.me/i/zquark77.jpg")
    lead = Lead.objects.create(
        title=f"Telegram: {NAME}", contact=contact, full_name=NAME, phone=PHONE, email=EMAIL, source="Telegram",
        open_channel=channel,
    )  # fmt: skip
    Conversation.objects.filter(pk=conversation.pk).update(lead=lead)
    form = ConsentForm.objects.create(name="Notice", text="We keep your messages.")
    ConsentRecord.objects.create(
        client=client, form_version=form.current_version, conversation=conversation, source="telegram", accepted_at=now
    )
    # The provider's raw delivery, as Telegram sends it, and another person's, which stays.
    InboundUpdate.objects.create(
        connector=telegram, update_id="1001", received_at=now, state=InboundUpdate.State.PROCESSED,
        payload={"update_id": 1001, "message": {"from": {"id": int(SOURCE_ID), "first_name": "Zofia",
                 "last_name": SURNAME, "username": USERNAME}, "text": SECRET}},
    )  # fmt: skip
    InboundUpdate.objects.create(
        connector=telegram, update_id="1002", received_at=now, state=InboundUpdate.State.PROCESSED,
        payload={"update_id": 1002, "message": {"from": {"id": 1987654321, "first_name": "Bartek"}, "text": "Hi"}},
    )  # fmt: skip
    LogEntry.objects.create(
        user=boss, content_type=ContentType.objects.get_for_model(Client), object_id=str(client.pk),
        object_repr=NAME, action_flag=CHANGE, change_message=f'[{{"changed": {{"fields": ["{EMAIL}"]}}}}]',
    )  # fmt: skip
    # Somebody else in the same channel: untouched by the erasure.
    inbound.message_receive(
        connector=telegram, external_user_id="555", text="Bartek here, about my order", source_message_id="tg-2",
        now=now, client_name="Bartek Nowak",
    )  # fmt: skip
    other = Client.objects.get(connector=telegram, external_id="555")
    return World(channel, telegram, olga, client, conversation, other, contact, lead, now)


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
              AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'ARRAY', 'tsvector')
                   OR c.udt_name = 'tsvector')
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def _found_in_database(needles) -> list[tuple[str, str, str]]:
    found = []
    columns = _text_columns()
    assert ("channels_app_message", "search_words") in columns
    assert ("channels_app_inboundupdate", "payload") in columns
    with connection.cursor() as cursor:
        for table, column in columns:
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    found.append((table, column, needle))
    return found


def _found_in_storage(root, needles) -> list[str]:
    """Every stored file's bytes and name, and inside a ZIP (a data export, compressed) every member's."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            contents = [(path, Path(path).read_bytes())]
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as archive:
                    contents += [(f"{path}!{member}", archive.read(member)) for member in archive.namelist()]
            for where, content in contents:
                lowered = content.lower()
                found += [
                    f"{where}: {needle}" for needle in needles if needle.lower().encode() in lowered or needle in where
                ]
    return found


def _stored_files(root) -> list[str]:
    return [os.path.join(folder, name) for folder, _dirs, names in os.walk(root) for name in names]


def _kpi(world: World):
    day = timezone.localdate(world.now)
    period = KpiPeriod(day - timedelta(days=1), day + timedelta(days=1))
    overview = kpi_overview(period, now=timezone.now())
    return overview.totals, overview.rows, ResponseRecord.objects.count(), KpiMiss.objects.count()


def test_erasing_a_client_leaves_nothing_of_them_in_any_text_column_or_file_and_the_kpi_unchanged(
    world, media_root, django_capture_on_commit_callbacks
):
    # The data is there before: the search finds it in many places.
    before = _found_in_database(NEEDLES)
    tables = {table for table, _column, _needle in before}
    assert {
        "channels_app_client", "channels_app_message", "channels_app_attachment", "channels_app_conversationnote",
        "channels_app_notification", "channels_app_inboundupdate", "crm_contact", "crm_lead", "kpi_kpimiss",
        "kpi_supervisorrating", "django_admin_log",
    } <= tables  # fmt: skip
    assert ("channels_app_message", "search_words", SECRET.lower()) in before
    # An administrator exported the client's data earlier: the archive waits in the storage.
    ada = UserFactory(username="ada", roles=["Administrators"])
    export = export_request(actor=ada, client_id=world.client.pk, now=timezone.now())  # the build, run here
    assert export_build(export_id=export.pk, now=timezone.now()).status == DataExport.Status.READY
    assert any("!data.json" in where for where in _found_in_storage(media_root, NEEDLES))
    files_before = _stored_files(media_root)
    kpi_before = _kpi(world)
    assert kpi_before[0].stats.responses == 1 and kpi_before[0].stats.misses == 1 and kpi_before[0].likes == 1

    with django_capture_on_commit_callbacks(execute=True):
        result = client_erase(client_id=world.client.pk, actor=ada, now=timezone.now())

    assert not result.already_erased
    assert result.content.conversations == 1 and result.content.messages == 3 and result.content.files == 6
    assert result.inbound_updates == 1 and result.leads == 1 and result.contacts == 1 and result.crm == "anonymise"
    assert result.exports == 1 and DataExport.objects.get(pk=export.pk).status == DataExport.Status.EXPIRED
    assert _found_in_database(NEEDLES) == []
    assert _found_in_storage(media_root, NEEDLES) == []
    # Only the other client's files would remain; this one had every file of the storage.
    assert _stored_files(media_root) == [] and files_before
    # The KPI figures and what they are computed from are unchanged.
    assert _kpi(world) == kpi_before
    # What is kept, without personal data.
    conversation = Conversation.objects.get(pk=world.conversation.pk)
    assert conversation.erased_at is not None and conversation.status == ConversationStatus.CLOSED
    assert conversation.closed_at == world.now + timedelta(minutes=2) and conversation.lead_id == world.lead.pk
    assert list(Message.objects.filter(conversation=conversation).values_list("text", flat=True)) == [ERASED] * 3
    assert ClientRating.objects.get(conversation=conversation).value == "like"
    assert SupervisorRating.objects.get(conversation=conversation).score == 5
    assert ConsentRecord.objects.filter(client=world.client).count() == 1  # the proof of consent stays
    assert not Attachment.objects.filter(message__conversation=conversation).exists()
    client = Client.objects.get(pk=world.client.pk)
    assert client.erased_at is not None and client.external_id == f"erased:{client.pk}"
    assert InboundUpdate.objects.get(update_id="1002").payload["message"]["text"] == "Hi"
    # The other client is untouched.
    assert Client.objects.get(pk=world.other_client.pk).name == "Bartek Nowak"
    assert Message.objects.filter(conversation__client=world.other_client, text__contains="Bartek here").exists()
    # The audit log says who erased what, in figures.
    event = AuditEvent.objects.get(action=AuditAction.CLIENT_ERASED)
    assert event.actor_name == "ada" and event.client_id_ref == client.pk and event.contact_id_ref == world.contact.pk
    assert event.detail["messages"] == 3 and event.detail["files"] == 6


def test_a_second_erasure_changes_nothing_and_the_same_messenger_user_writing_again_is_a_new_client(world):
    first = client_erase(client_id=world.client.pk, actor=None, now=timezone.now())
    assert not first.already_erased
    snapshot = list(Client.objects.filter(pk=world.client.pk).values())
    again = client_erase(client_id=world.client.pk, actor=None, now=timezone.now())
    assert again.already_erased and again.counts()["messages"] == 0
    assert list(Client.objects.filter(pk=world.client.pk).values()) == snapshot
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_ERASED).count() == 1

    result = inbound.message_receive(
        connector=world.telegram, external_user_id=SOURCE_ID, text="Hello again", source_message_id="tg-3",
        now=timezone.now(), client_name=NAME,
    )  # fmt: skip
    new_client = result.message.conversation.client
    assert new_client.pk != world.client.pk and new_client.erased_at is None and new_client.contact_id is None
    assert Client.objects.get(pk=world.client.pk).name == ERASED


def test_a_reply_still_waiting_for_the_messenger_never_goes_out_as_the_marker(world):
    from channels_app.connectors.processing import message_deliver

    waiting = Message.objects.create(
        conversation=world.conversation, connector=world.telegram, author_kind=Message.Author.OPERATOR,
        author=world.operator, text="Your parcel code is 7781", delivery=Message.Delivery.QUEUED, created_at=world.now,
    )  # fmt: skip
    client_erase(client_id=world.client.pk, actor=None, now=timezone.now())
    waiting.refresh_from_db()
    assert waiting.text == ERASED and waiting.delivery == Message.Delivery.FAILED
    assert message_deliver(message_id=waiting.pk, now=timezone.now(), final_attempt=True).state == "skipped"


def test_a_client_with_an_open_conversation_is_refused_and_nothing_changes(world):
    Conversation.objects.filter(pk=world.conversation.pk).update(status=ConversationStatus.ACTIVE)
    with pytest.raises(InvalidState, match="close the conversation first"):
        client_erase(client_id=world.client.pk, actor=None, now=timezone.now())
    assert Client.objects.get(pk=world.client.pk).name == NAME
    assert Message.objects.filter(conversation=world.conversation, text__contains=SECRET).count() == 2
    assert not AuditEvent.objects.exists()
    with pytest.raises(NotFound):
        client_erase(client_id=10**9, actor=None, now=timezone.now())


def test_erasing_a_contact_erases_every_client_linked_to_it(world):
    livechat_client = world.other_client
    Client.objects.filter(pk=livechat_client.pk).update(contact=world.contact)
    Conversation.objects.filter(client=livechat_client).update(status=ConversationStatus.CLOSED, closed_at=world.now)
    result = contact_erase(contact_id=world.contact.pk, actor=None, now=timezone.now())
    assert sorted(result.client_ids) == sorted([world.client.pk, livechat_client.pk]) and result.clients == 2
    assert not Client.objects.filter(erased_at__isnull=True, contact=world.contact).exists()
    assert Contact.objects.get(pk=world.contact.pk).full_name == ERASED
    assert AuditEvent.objects.get(action=AuditAction.CONTACT_ERASED).contact_id_ref == world.contact.pk
    assert contact_erase(contact_id=world.contact.pk, actor=None, now=timezone.now()).already_erased


def test_crm_on_erasure_delete_deletes_the_contact_and_leads(world, settings):
    settings.PRIVACY_CRM_ON_ERASURE = "delete"
    result = client_erase(client_id=world.client.pk, actor=None, now=timezone.now())
    assert result.crm == "delete" and result.leads == 1 and result.contacts == 1
    assert not Contact.objects.filter(pk=world.contact.pk).exists()
    assert not Lead.objects.filter(pk=world.lead.pk).exists()
    assert Conversation.objects.get(pk=world.conversation.pk).lead_id is None
    assert _found_in_database(NEEDLES) == []

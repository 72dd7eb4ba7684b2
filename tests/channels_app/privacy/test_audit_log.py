"""Issue 19, the audit log: its admin pages (read-only, administrators only, CSV/XLSX export), its REST endpoint,
and the transcript reads it records (a supervisor's or an administrator's look outside their own work)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from channels_app.engine.audit import audit_record, transcript_opened
from channels_app.models import AuditAction, AuditEvent, ConversationStatus, Message
from crm.models import Lead
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def world(db):
    """North: Olga operates it and holds a conversation, Sam supervises it; Ada administers everything."""
    channel = OpenChannelFactory(name="North")
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel, kind="livechat")
    conversation = ConversationFactory(
        client=ClientFactory(connector=connector, name="Hannah"),
        status=ConversationStatus.ACTIVE,
        operator=olga,
        first_operator=olga,
        created_at=T0 - timedelta(hours=1),
    )
    Message.objects.create(
        conversation=conversation, connector=connector, author_kind="client", text="Hi", created_at=T0
    )
    sam = UserFactory(username="sam", roles=["Supervisors"])
    channel.supervisors.add(sam)
    ada = UserFactory(username="ada", roles=["Administrators"])
    return {"channel": channel, "olga": olga, "sam": sam, "ada": ada, "conversation": conversation}


def signed_in(user) -> HttpClient:
    http = HttpClient()
    http.force_login(user)
    return http


def opened(conversation) -> list[tuple[str, int | None, int | None]]:
    events = AuditEvent.objects.filter(action=AuditAction.TRANSCRIPT_OPENED, conversation_id_ref=conversation.pk)
    return list(events.values_list("actor__username", "client_id_ref", "open_channel_id"))


# --- transcript reads --------------------------------------------------------------------------------------------


def test_supervisor_opening_a_transcript_on_the_kpi_page_is_logged_once_an_hour(world):
    conversation, sam = world["conversation"], world["sam"]
    url = reverse("kpi:conversation", args=[conversation.pk])
    with time_machine.travel(T0, tick=False) as clock:
        assert signed_in(sam).get(url).status_code == 200
        assert opened(conversation) == [("sam", conversation.client_id, world["channel"].pk)]
        clock.shift(timedelta(minutes=59))
        assert signed_in(sam).get(url).status_code == 200
        assert len(opened(conversation)) == 1  # paging or reloading within the hour: still one
        clock.shift(timedelta(minutes=2))
        signed_in(sam).get(url)
        assert len(opened(conversation)) == 2


def test_the_operator_reading_their_own_conversation_is_not_logged(world):
    conversation, olga = world["conversation"], world["olga"]
    http = signed_in(olga)
    assert http.get(reverse("api-conversation-messages", args=[conversation.pk])).status_code == 200
    assert opened(conversation) == []
    # Reading a colleague's conversation of one's own queue is the operator's work too.
    colleague = OperatorFactory(username="omar")
    QueueMemberFactory(open_channel=world["channel"], operator=colleague, position=1)
    assert signed_in(colleague).get(reverse("api-conversation-messages", args=[conversation.pk])).status_code == 200
    assert opened(conversation) == []


def test_every_place_showing_a_transcript_logs_a_look_outside_ones_work(world):
    conversation, sam, ada = world["conversation"], world["sam"], world["ada"]
    # The console's messages (a supervisor opening it from History or the wallboard).
    assert signed_in(sam).get(reverse("api-conversation-messages", args=[conversation.pk])).status_code == 200
    # The admin's conversation page.
    admin_page = reverse("admin:channels_app_conversation_change", args=[conversation.pk])
    assert signed_in(ada).get(admin_page).status_code == 200
    assert sorted(actor for actor, _, _ in opened(conversation)) == ["ada", "sam"]
    # The CRM lead's conversation log.
    lead = Lead.objects.create(title="Lead", full_name="Hannah", open_channel=world["channel"])
    conversation.lead = lead
    conversation.save(update_fields=["lead"])
    AuditEvent.objects.all().delete()
    assert signed_in(ada).get(reverse("admin:crm_lead_change", args=[lead.pk])).status_code == 200
    assert [actor for actor, _, _ in opened(conversation)] == ["ada"]


def test_only_opening_a_conversation_in_the_console_is_logged_and_a_refused_request_logs_nothing(world):
    conversation, sam = world["conversation"], world["sam"]
    messages = reverse("api-conversation-messages", args=[conversation.pk])
    assert signed_in(sam).get(messages, {"before": "x"}).status_code == 400
    message_id = Message.objects.filter(conversation=conversation).values_list("pk", flat=True).first()
    assert message_id is not None
    assert signed_in(sam).get(messages, {"after": "0"}).status_code == 200  # a re-sync, not an opening
    assert signed_in(sam).get(messages, {"before": message_id}).status_code == 200  # scrolling up
    assert opened(conversation) == []
    assert signed_in(sam).get(messages).status_code == 200
    assert [actor for actor, _, _ in opened(conversation)] == ["sam"]


def test_transcript_opened_answers_whether_it_wrote(world):
    conversation = world["conversation"]
    assert transcript_opened(user=world["olga"], conversation=conversation, now=T0) is False
    assert transcript_opened(user=world["ada"], conversation=conversation, now=T0) is True
    assert transcript_opened(user=world["ada"], conversation=conversation, now=T0 + timedelta(minutes=30)) is False


# --- the admin ---------------------------------------------------------------------------------------------------


def test_the_audit_admin_is_read_only_and_for_administrators_only(world):
    event = audit_record(actor=world["sam"], action=AuditAction.TRANSCRIPT_OPENED, now=T0, client_id=7)
    changelist = reverse("admin:channels_app_auditevent_changelist")
    change = reverse("admin:channels_app_auditevent_change", args=[event.pk])
    add = reverse("admin:channels_app_auditevent_add")
    delete = reverse("admin:channels_app_auditevent_delete", args=[event.pk])
    export = reverse("admin:channels_app_auditevent_export")

    sam = signed_in(world["sam"])
    for url in (changelist, change, add, delete, export):
        assert sam.get(url).status_code == 403, url
    assert "auditevent" not in sam.get(reverse("admin:index")).content.decode()
    olga = signed_in(world["olga"])
    assert olga.get(changelist).status_code == 302  # operators do not use the admin

    ada = signed_in(world["ada"])
    assert ada.get(changelist).status_code == 200
    page = ada.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert ada.get(add).status_code == 403
    assert ada.get(delete).status_code == 403
    assert ada.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    superuser = UserFactory(username="root", is_superuser=True)
    assert signed_in(superuser).get(add).status_code == 403  # nobody writes the log by hand


def test_the_audit_admin_filters_searches_and_exports_csv(world):
    audit_record(actor=world["sam"], action=AuditAction.TRANSCRIPT_OPENED, now=T0, client_id=7, conversation_id=70)
    audit_record(actor=world["ada"], action=AuditAction.CONSENT_WITHDRAWN, now=T0, client_id=8, detail={"via": "admin"})
    ada = signed_in(world["ada"])
    changelist = reverse("admin:channels_app_auditevent_changelist")
    only = ada.get(changelist + "?action=consent_withdrawn").content.decode()
    assert 'field-client_id_ref">8<' in only and 'field-client_id_ref">7<' not in only
    searched = ada.get(changelist + "?q=70").content.decode()
    assert 'field-client_id_ref">7<' in searched and 'field-client_id_ref">8<' not in searched
    assert ada.get(changelist + "?q=hannah").status_code == 200  # not an id: no error
    assert ada.get(changelist + f"?actor__id__exact={world['sam'].pk}").status_code == 200

    fields = ["id", "at", "actor_name", "action", "open_channel", "client_id_ref", "contact_id_ref"]
    fields += ["conversation_id_ref", "detail"]
    body = {"format": "0", "resource": "0", **{f"auditeventresource_{name}": "on" for name in fields}}
    answer = ada.post(reverse("admin:channels_app_auditevent_export"), body)
    assert answer.status_code == 200, answer.content[:500]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert sorted((row["action"], row["client_id_ref"], row["actor_name"]) for row in rows) == [
        ("consent_withdrawn", "8", "ada"),
        ("transcript_opened", "7", "sam"),
    ]
    assert '"via": "admin"' in next(row["detail"] for row in rows if row["action"] == "consent_withdrawn")
    assert signed_in(world["sam"]).post(reverse("admin:channels_app_auditevent_export"), body).status_code == 403


# --- REST --------------------------------------------------------------------------------------------------------


def test_the_rest_log_filters_and_pages(world):
    for minute in range(5):
        audit_record(
            actor=world["sam"], action=AuditAction.TRANSCRIPT_OPENED, now=T0 + timedelta(minutes=minute), client_id=1
        )
    audit_record(actor=world["ada"], action=AuditAction.CONSENT_WITHDRAWN, now=T0 + timedelta(hours=1), client_id=2)
    ada = signed_in(world["ada"])
    url = reverse("api-privacy-audit")
    everything = ada.get(url).json()
    assert everything["count"] == 6 and everything["results"][0]["action"] == "consent_withdrawn"  # newest first
    page = ada.get(url, {"action": "transcript_opened", "limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and [e["at"] for e in page["results"]] == [
        "2026-11-23T10:03:00Z",
        "2026-11-23T10:02:00Z",
    ]
    window = ada.get(url, {"since": "2026-11-23T10:01:00Z", "until": "2026-11-23T10:03:00"}).json()
    assert window["count"] == 2
    assert ada.get(url, {"actor": world["ada"].pk}).json()["results"][0]["client_id"] == 2


@pytest.mark.parametrize(
    "params",
    [
        {"action": "read_minds"},
        {"since": "yesterday"},
        {"until": "2026-13-40T00:00:00"},
        {"since": "2026-11-24T00:00:00Z", "until": "2026-11-23T00:00:00Z"},
        {"actor": "ada"},
        {"actor": "-1"},
        {"limit": "0"},
        {"limit": "201"},
        {"offset": "x"},
    ],
)
def test_the_rest_log_refuses_bad_parameters(world, params):
    answer = signed_in(world["ada"]).get(reverse("api-privacy-audit"), params)
    assert answer.status_code == 400 and answer.json()["detail"]


def test_the_rest_log_is_for_administrators_only(world):
    url = reverse("api-privacy-audit")
    assert HttpClient().get(url).status_code in (401, 403)
    assert signed_in(world["olga"]).get(url).status_code == 403
    assert signed_in(world["sam"]).get(url).status_code == 403

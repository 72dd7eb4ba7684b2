"""A1, issue 19: a client withdraws their consent (the widget, an operator on their behalf, an administrator).

The withdrawal is recorded with its time and source and audited; the conversation open at that moment continues,
the client's next one asks for consent again; a second withdrawal changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client as HttpClient
from django.urls import reverse

from channels_app.engine.consent import consent_needed, consent_withdraw
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    AuditAction,
    AuditEvent,
    ConsentForm,
    ConsentRecord,
    ConsentWithdrawnVia,
    Conversation,
    ConversationStatus,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def consent_world(engine):
    """Olga answers a Telegram channel that asks for consent; a client agreed and is talking to her."""
    olga = make_operator("olga")
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages.")
    channel = make_channel([olga], connector_kind="telegram", consent_required=True, consent_form=form)
    first = engine.receive(channel, visitor="tg-1", text="Hello")
    assert first.status == ConversationStatus.CONSENT
    conversation = engine.receive(channel, visitor="tg-1", text="I agree")
    assert conversation.pk == first.pk and conversation.status != ConversationStatus.CONSENT
    return olga, channel, conversation


def close(conversation, now) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.CLOSED, closed_at=now)


def test_A1_withdrawal_is_recorded_with_time_source_and_audited_and_is_idempotent(engine, consent_world):
    olga, channel, conversation = consent_world
    now = engine.clock.now()
    result = consent_withdraw(client_id=conversation.client_id, actor=olga, via=ConsentWithdrawnVia.OPERATOR, now=now)
    assert result.withdrawn == 1 and result.continuing == conversation
    record = ConsentRecord.objects.get(client=conversation.client)
    assert (record.withdrawn_at, record.withdrawn_via, record.withdrawn_by, record.withdrawn_in) == (
        now,
        "operator",
        olga,
        conversation,
    )
    event = AuditEvent.objects.get(action=AuditAction.CONSENT_WITHDRAWN)
    assert (event.actor, event.client_id_ref, event.conversation_id_ref, event.open_channel_id) == (
        olga,
        conversation.client_id,
        conversation.pk,
        channel.pk,
    )
    assert event.detail == {"via": "operator", "records": [record.pk]}
    again = consent_withdraw(
        client_id=conversation.client_id, actor=None, via=ConsentWithdrawnVia.WIDGET, now=now + timedelta(minutes=1)
    )
    assert again.withdrawn == 0
    record.refresh_from_db()
    assert (record.withdrawn_at, record.withdrawn_via) == (now, "operator")  # the first withdrawal stands
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_WITHDRAWN).count() == 1


def test_A1_the_open_conversation_continues_and_the_next_one_asks_again(engine, consent_world):
    _olga, channel, conversation = consent_world
    consent_withdraw(
        client_id=conversation.client_id, actor=None, via=ConsentWithdrawnVia.WIDGET, now=engine.clock.now()
    )
    assert not consent_needed(channel, conversation.client)  # the conversation open now goes on
    still = engine.receive(channel, visitor="tg-1", text="One more question")
    assert still.pk == conversation.pk and still.status != ConversationStatus.CONSENT

    close(conversation, engine.clock.shift(timedelta(minutes=5)))
    assert consent_needed(channel, conversation.client)
    following = engine.receive(channel, visitor="tg-1", text="Hello again")
    assert following.pk != conversation.pk
    assert following.status == ConversationStatus.CONSENT  # asked again, not routed

    agreed = engine.receive(channel, visitor="tg-1", text="I agree")
    assert agreed.pk == following.pk and agreed.status != ConversationStatus.CONSENT
    records = ConsentRecord.objects.filter(client=conversation.client).order_by("accepted_at")
    assert [(r.withdrawn_at is None, r.conversation_id) for r in records] == [
        (False, conversation.pk),
        (True, following.pk),
    ]


def test_A1_withdrawn_without_an_open_conversation_asks_at_the_next_message(engine, consent_world):
    _olga, channel, conversation = consent_world
    close(conversation, engine.clock.now())
    result = consent_withdraw(
        client_id=conversation.client_id, actor=None, via=ConsentWithdrawnVia.ADMIN, now=engine.clock.now()
    )
    assert result.continuing is None
    assert consent_needed(channel, conversation.client)


def test_A1_unknown_client_or_source_is_refused_and_changes_nothing(engine, consent_world):
    from channels_app.engine.errors import NotFound, ServiceError

    _, _, conversation = consent_world
    with pytest.raises(NotFound):
        consent_withdraw(client_id=999_999, actor=None, via="widget", now=engine.clock.now())
    with pytest.raises(ServiceError):
        consent_withdraw(client_id=conversation.client_id, actor=None, via="carrier pigeon", now=engine.clock.now())
    assert not ConsentRecord.objects.filter(withdrawn_at__isnull=False).exists()
    assert not AuditEvent.objects.exists()


# --- the entry points ---------------------------------------------------------------------------------------


@pytest.fixture
def widget_world(engine):
    """A live chat asking for consent; a visitor agreed and is chatting."""
    from channels_app.livechat.services import livechat_consent_record

    olga = make_operator("olga")
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages.")
    channel = make_channel([olga], connector_kind="livechat", consent_required=True, consent_form=form)
    connector = channel.connectors.get()
    livechat_consent_record(connector=connector, visitor_id="visitor-1", now=engine.clock.now())
    conversation = engine.receive(channel, visitor="visitor-1", text="Hello")
    return olga, channel, connector, conversation


def test_A1_the_widget_withdraws_with_the_visitor_token(engine, widget_world):
    _olga, _channel, connector, conversation = widget_world
    token = visitor_token_issue(connector=connector, visitor_id="visitor-1")
    url = reverse("api-livechat-consent-withdraw", args=[token])
    answer = HttpClient().post(url)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"withdrawn": True, "conversation_continues": True}
    record = ConsentRecord.objects.get(client=conversation.client)
    assert (record.withdrawn_via, record.withdrawn_by, record.withdrawn_at) == ("widget", None, engine.clock.now())
    state = HttpClient().get(reverse("api-livechat-state", args=[token])).json()
    assert state["consent_needed"] is False  # the chat goes on
    assert HttpClient().post(url).json() == {"withdrawn": False, "conversation_continues": True}
    # A token of this chat for a visitor who never wrote: nothing to withdraw, nothing stored.
    stranger = visitor_token_issue(connector=connector, visitor_id="visitor-2")
    assert HttpClient().post(reverse("api-livechat-consent-withdraw", args=[stranger])).json()["withdrawn"] is False
    assert HttpClient().post(reverse("api-livechat-consent-withdraw", args=["forged"])).status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_WITHDRAWN).count() == 1


def test_A1_an_operator_who_can_see_the_conversation_records_it_in_the_console(engine, widget_world):
    olga, _channel, _connector, conversation = widget_world
    url = reverse("api-conversation-consent-withdraw", args=[conversation.pk])
    stranger = make_operator("sam")
    make_channel([stranger])
    http = HttpClient()
    http.force_login(stranger)
    assert http.post(url, content_type="application/json").status_code == 404
    assert not ConsentRecord.objects.filter(withdrawn_at__isnull=False).exists()

    http.force_login(olga)
    card = http.get(reverse("api-conversation", args=[conversation.pk])).json()["client"]
    assert card["consents"][0]["withdrawn_at"] is None
    answer = http.post(url, content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"withdrawn": 1, "conversation_continues": True}
    record = ConsentRecord.objects.get(client=conversation.client)
    assert (record.withdrawn_via, record.withdrawn_by) == ("operator", olga)
    card = http.get(reverse("api-conversation", args=[conversation.pk])).json()["client"]
    assert card["consents"][0]["withdrawn_at"] is not None


def test_A1_administrators_withdraw_from_the_client_admin_and_see_it_in_the_records(engine, widget_world):
    _olga, channel, _connector, conversation = widget_world
    changelist = reverse("admin:channels_app_client_changelist")
    body = {"action": "withdraw_consent", "_selected_action": [conversation.client_id]}
    supervisor = UserFactory(username="sue", roles=["Supervisors"])
    channel.supervisors.add(supervisor)
    http = HttpClient()
    http.force_login(supervisor)
    http.post(changelist, body)
    assert not ConsentRecord.objects.filter(withdrawn_at__isnull=False).exists()  # not a supervisor's action

    ada = UserFactory(username="ada", roles=["Administrators"])
    http.force_login(ada)
    assert http.post(changelist, body).status_code == 302
    record = ConsentRecord.objects.get(client=conversation.client)
    assert (record.withdrawn_via, record.withdrawn_by) == ("admin", ada)
    page = http.get(reverse("admin:channels_app_consentrecord_changelist")).content.decode()
    assert "Withdrawn" in page
    filtered = http.get(reverse("admin:channels_app_consentrecord_changelist") + "?withdrawn_at__isempty=0")
    assert filtered.status_code == 200 and "Withdrawn" in filtered.content.decode()

"""Issue 19: the ways in to an erasure (REST for administrators, the admin's action with its confirmation page) and
the open channel's retention field in the admin (bounds, the audit of a change)."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from channels_app.engine.erasure import ERASED
from channels_app.models import AuditAction, AuditEvent, Client, ConversationStatus, Message
from crm.models import Contact
from tests.channels_app.admin.test_admin import change_url, errors_of, form_data
from tests.factories import ClientFactory, ConversationFactory, OpenChannelFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client_with_conversation(status=ConversationStatus.CLOSED, **fields) -> Client:
    conversation = ConversationFactory(status=status, client=ClientFactory(name="Ewa Erasable"), **fields)
    Message.objects.create(
        conversation=conversation,
        connector=conversation.connector,
        author_kind=Message.Author.CLIENT,
        text="Ewa's secret",
        created_at=timezone.now(),
    )
    return conversation.client


@pytest.fixture
def administrator(db):
    user = UserFactory(username="adele", roles=["Administrators"])
    return user


@pytest.fixture
def supervisor(db):
    user = UserFactory(username="sven", roles=["Supervisors"])
    return user


def _post(http, url):
    response = http.post(url, content_type="application/json")
    return response, json.loads(response.content or b"{}")


def test_rest_an_administrator_erases_a_client_and_gets_what_was_erased(client, administrator):
    erasable = _client_with_conversation()
    client.force_login(administrator)
    response, body = _post(client, f"/api/privacy/clients/{erasable.pk}/erase/")
    assert response.status_code == 200, body
    assert body["already_erased"] is False and body["clients"] == 1 and body["content"]["messages"] == 1
    assert Client.objects.get(pk=erasable.pk).name == ERASED
    response, body = _post(client, f"/api/privacy/clients/{erasable.pk}/erase/")
    assert response.status_code == 200 and body["already_erased"] is True
    assert AuditEvent.objects.filter(action=AuditAction.CLIENT_ERASED, actor=administrator).count() == 1


def test_rest_refusals_are_4xx_and_change_nothing(client, administrator, supervisor):
    open_client = _client_with_conversation(status=ConversationStatus.ACTIVE, operator=OperatorFactory())
    contact = Contact.objects.create(full_name="Ewa Contact")
    Client.objects.filter(pk=open_client.pk).update(contact=contact)
    client.force_login(administrator)
    response, body = _post(client, f"/api/privacy/clients/{open_client.pk}/erase/")
    assert response.status_code == 409 and "close the conversation first" in body["detail"]
    response, body = _post(client, f"/api/privacy/contacts/{contact.pk}/erase/")
    assert response.status_code == 409
    assert _post(client, "/api/privacy/clients/999999/erase/")[0].status_code == 404
    assert _post(client, "/api/privacy/contacts/999999/erase/")[0].status_code == 404
    assert client.get(f"/api/privacy/clients/{open_client.pk}/erase/").status_code == 405
    for person in (supervisor, OperatorFactory()):
        client.force_login(person)
        assert _post(client, f"/api/privacy/clients/{open_client.pk}/erase/")[0].status_code == 403
        assert _post(client, f"/api/privacy/contacts/{contact.pk}/erase/")[0].status_code == 403
    client.logout()
    assert _post(client, f"/api/privacy/clients/{open_client.pk}/erase/")[0].status_code == 403
    assert Client.objects.get(pk=open_client.pk).name == "Ewa Erasable"
    assert Contact.objects.get(pk=contact.pk).full_name == "Ewa Contact"
    assert Message.objects.filter(text="Ewa's secret").exists()
    assert not AuditEvent.objects.exists()


def test_admin_action_asks_for_confirmation_then_erases(client, administrator):
    erasable = _client_with_conversation()
    refused = _client_with_conversation(status=ConversationStatus.QUEUED)
    client.force_login(administrator)
    url = "/admin/channels_app/client/"
    assert "erase_personal_data" in client.get(url).content.decode()
    selected = {"action": "erase_personal_data", "_selected_action": [erasable.pk, refused.pk]}
    page = client.post(url, selected)
    assert page.status_code == 200
    text = page.content.decode()
    assert "This cannot be undone." in text and "Ewa Erasable" in text and 'name="confirmed"' in text
    assert Client.objects.get(pk=erasable.pk).erased_at is None  # nothing yet

    done = client.post(url, {**selected, "confirmed": "yes"}, follow=True)
    messages = [str(message) for message in done.context["messages"]]
    assert any("close the conversation first" in message for message in messages)
    assert any("1 row erased" in message for message in messages)
    assert Client.objects.get(pk=erasable.pk).erased_at is not None
    assert Client.objects.get(pk=refused.pk).erased_at is None


def test_admin_action_on_crm_contacts(client, administrator):
    erasable = _client_with_conversation()
    contact = Contact.objects.create(full_name="Ewa Contact", phone="+48 600 100 200")
    Client.objects.filter(pk=erasable.pk).update(contact=contact)
    client.force_login(administrator)
    url = "/admin/crm/contact/"
    selected = {"action": "erase_personal_data", "_selected_action": [contact.pk]}
    assert "This cannot be undone." in client.post(url, selected).content.decode()
    client.post(url, {**selected, "confirmed": "yes"})
    assert Contact.objects.get(pk=contact.pk).full_name == ERASED
    assert Client.objects.get(pk=erasable.pk).erased_at is not None


def test_admin_action_is_offered_to_administrators_only(client, supervisor):
    channel = OpenChannelFactory()
    channel.supervisors.add(supervisor)
    erasable = _client_with_conversation()
    erasable.connector.open_channel = channel
    erasable.connector.save()
    client.force_login(supervisor)
    listing = client.get("/admin/channels_app/client/")
    assert listing.status_code == 200 and "erase_personal_data" not in listing.content.decode()
    client.post(
        "/admin/channels_app/client/",
        {"action": "erase_personal_data", "_selected_action": [erasable.pk], "confirmed": "yes"},
    )
    assert Client.objects.get(pk=erasable.pk).erased_at is None


@pytest.mark.parametrize("value", [0, 3651, -5])
def test_retention_outside_one_day_to_ten_years_is_a_form_error(client, admin_user, open_channel, value):
    client.force_login(admin_user)
    response = client.post(change_url(open_channel), form_data(open_channel, retention_days=value))
    assert "Enter a number of days between 1 and 3650 (ten years)." in errors_of(response)
    open_channel.refresh_from_db()
    assert open_channel.retention_days is None
    assert not AuditEvent.objects.exists()


def test_a_retention_change_in_the_admin_is_audited_with_old_and_new(client, admin_user, open_channel):
    client.force_login(admin_user)
    page = client.get(change_url(open_channel)).content.decode()
    assert 'name="retention_days"' in page and 'id="tab-button-privacy"' in page
    assert client.post(change_url(open_channel), form_data(open_channel, retention_days=90)).status_code == 302
    open_channel.refresh_from_db()
    assert client.post(change_url(open_channel), form_data(open_channel, retention_days="")).status_code == 302
    open_channel.refresh_from_db()
    assert client.post(change_url(open_channel), form_data(open_channel, name="Renamed")).status_code == 302
    events = list(AuditEvent.objects.filter(action=AuditAction.RETENTION_CHANGED).order_by("id"))
    assert [event.detail for event in events] == [
        {"old_days": None, "new_days": 90},
        {"old_days": 90, "new_days": None},
    ]
    assert events[0].actor == admin_user and events[0].open_channel_id == open_channel.pk

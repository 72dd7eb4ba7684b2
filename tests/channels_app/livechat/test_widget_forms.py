"""The website chat's forms (issue 15, point 8): the pre-chat form fills the client and lets C2 make a lead; the
offline form, outside working hours (H2) or when nobody can answer (Q9), becomes an offline request.

Settings are checked in the admin (a bad value is a form error, never a 500); the visitor endpoints refuse a
missing or malformed field with a 400 naming it and store nothing; a typed e-mail or phone never links the visitor
to someone else's CRM contact (C1).
"""

from __future__ import annotations

import uuid
from datetime import time
from types import SimpleNamespace

import pytest
from django.test import Client as HttpClient
from django.utils import timezone

from channels_app.console.api import _list_row
from channels_app.engine.errors import InvalidState
from channels_app.livechat.services import livechat_message_send
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    Client,
    Conversation,
    ConversationStatus,
    LeadCreation,
    OperatorProfile,
    WorkingPeriod,
)
from crm.models import Contact, Lead
from kpi.wallboard import snapshot
from tests.channels_app.admin.test_admin import change_url, errors_of, form_data
from tests.factories import (
    ConnectorFactory,
    ContactFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_rate_limit_buckets(settings):
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def shop(db):
    """“Shop”: a live chat that asks name (required), e-mail (required) and phone (optional), makes leads
    automatically and has an offline form. Anna Kowalska is a known contact."""
    channel = OpenChannelFactory(
        name="Shop",
        welcome_enabled=False,
        lead_creation=LeadCreation.AUTOMATIC,
        prechat_name="required",
        prechat_email="required",
        prechat_phone="optional",
        offline_form_enabled=True,
    )
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)
    anna = ContactFactory(full_name="Anna Kowalska", email="anna@example.com", phone="+48 600 100 200")
    return SimpleNamespace(channel=channel, connector=connector, olga=olga, anna=anna)


def token_for(connector, visitor_id: str) -> str:
    return visitor_token_issue(connector=connector, visitor_id=visitor_id)


def post(path: str, token: str, body, address: str = "198.51.100.7"):
    return HttpClient(REMOTE_ADDR=address).post(f"/api/livechat/{token}/{path}/", body, content_type="application/json")


def state(token: str) -> dict:
    response = HttpClient().get(f"/api/livechat/{token}/")
    assert response.status_code == 200
    return response.json()


def close_all_day(channel) -> None:
    """H1: open only one minute a day, a minute that is never now in these tests (the zone is UTC)."""
    channel.working_hours_enabled = True
    channel.save(update_fields=["working_hours_enabled"])
    now = timezone.now()
    minute = time(hour=(now.hour + 12) % 24, minute=0)
    for weekday in range(7):
        WorkingPeriod.objects.create(open_channel=channel, weekday=weekday, start=minute, end=time(minute.hour, 1))


# --- settings ----------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_forms_are_off_by_default(db):
    channel = OpenChannelFactory()
    assert (channel.prechat_name, channel.prechat_email, channel.prechat_phone) == ("off", "off", "off")
    assert not channel.offline_form_enabled
    assert not channel.prechat_asked


def test_the_live_chat_tab_saves_the_forms(admin_client, shop):
    response = admin_client.post(
        change_url(shop.channel),
        form_data(shop.channel, prechat_phone="required", offline_form_intro="Write to us, we answer tomorrow."),
    )
    assert response.status_code == 302
    shop.channel.refresh_from_db()
    assert shop.channel.prechat_phone == "required"
    assert shop.channel.offline_form_intro == "Write to us, we answer tomorrow."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prechat_email", "sometimes", "Select a valid choice. sometimes is not one of the available choices."),
        ("offline_form_intro", "x" * 501, "Ensure this value has at most 500 characters (it has 501)."),
    ],
)
def test_a_bad_form_setting_is_a_form_error_not_a_500(admin_client, shop, field, value, message):
    response = admin_client.post(change_url(shop.channel), form_data(shop.channel, **{field: value}))
    assert message in errors_of(response)
    shop.channel.refresh_from_db()
    assert getattr(shop.channel, field) != value


def test_the_live_chat_tab_holds_the_form_settings(admin_client, shop):
    page = admin_client.get(change_url(shop.channel)).content.decode()
    section = next(part for part in page.split('<fieldset class="module') if 'id="id_prechat_email"' in part)
    assert "tab-live-chat" in section.split(">", 1)[0]
    assert 'id="id_offline_form_enabled"' in section


# --- the pre-chat form -------------------------------------------------------------------------------------------


def test_the_frame_tells_the_widget_which_details_to_ask(shop):
    page = HttpClient().get(f"/livechat/frame/{shop.connector.public_key}/").content.decode()
    assert '"prechat": {"name": "required", "email": "required", "phone": "optional"}' in page
    assert '"offline_enabled": true' in page


def test_a_new_visitor_is_asked_for_the_details_before_writing(shop):
    token = token_for(shop.connector, "v1")
    assert state(token)["details_needed"] is True

    with pytest.raises(InvalidState, match="fill in the form"):
        livechat_message_send(
            connector=shop.connector,
            visitor_id="v1",
            client_address="198.51.100.7",
            text="Hello",
            client_message_id=None,
            now=timezone.now(),
        )
    assert not Conversation.objects.exists()


def test_C2_the_pre_chat_details_fill_the_client_and_make_the_lead(shop, django_capture_on_commit_callbacks):
    token = token_for(shop.connector, "v1")
    response = post("details", token, {"name": "Jan Nowak", "email": "jan@example.com", "phone": "+48 22 600 100"})
    assert response.status_code == 200, response.content
    assert response.json() == {"details_needed": False}
    client = Client.objects.get(external_id="v1")
    assert (client.name, client.phone, client.email) == ("Jan Nowak", "+48 22 600 100", "")
    assert (client.unverified_email, client.unverified_email_given) == ("jan@example.com", True)
    assert state(token)["details_needed"] is False

    with django_capture_on_commit_callbacks(execute=True):  # the C2 lead is made once the conversation commits
        result = livechat_message_send(
            connector=shop.connector,
            visitor_id="v1",
            client_address="198.51.100.7",
            text="Do you ship to Gdańsk?",
            client_message_id=None,
            now=timezone.now(),
        )

    conversation = Conversation.objects.select_related("lead__contact").get(pk=result.conversation.pk)
    lead = conversation.lead
    assert lead is not None, "the channel creates leads automatically (C2)"
    assert (lead.full_name, lead.email, lead.phone) == ("Jan Nowak", "jan@example.com", "+48 22 600 100")
    # The contact keeps only what was proven: a typed address or phone must not let it be found by its owner.
    assert (lead.contact.full_name, lead.contact.email, lead.contact.phone) == ("Jan Nowak", "", "")


def test_C1_a_typed_email_or_phone_of_a_known_contact_links_nothing(shop, django_capture_on_commit_callbacks):
    token = token_for(shop.connector, "stranger")
    response = post("details", token, {"name": "Eve", "email": "anna@example.com", "phone": "+48 600 100 200"})
    assert response.status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        result = livechat_message_send(
            connector=shop.connector,
            visitor_id="stranger",
            client_address="198.51.100.7",
            text="What did I order last time?",
            client_message_id=None,
            now=timezone.now(),
        )

    client = Client.objects.get(external_id="stranger")
    assert client.contact_id != shop.anna.pk
    lead = Conversation.objects.get(pk=result.conversation.pk).lead
    assert lead.contact_id != shop.anna.pk, "a new contact: Anna's history is not handed to whoever typed her data"
    assert Contact.objects.get(pk=shop.anna.pk).clients.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "jan@example.com"}, "name"),
        ({"name": "Jan", "email": ""}, "email"),
        ({"name": "Jan", "email": "jan@"}, "email"),
        ({"name": "Jan", "email": "jan@example.com", "phone": "call me"}, "phone"),
        ({"name": "Jan", "email": "jan@example.com", "phone": "12"}, "phone"),
        ({"name": "J" * 201, "email": "jan@example.com"}, "name"),
        ({"name": "Jan", "email": "j" * 250 + "@example.com"}, "email"),
        ({"name": ["Jan"], "email": "jan@example.com"}, "name"),
    ],
)
def test_a_missing_or_malformed_detail_is_a_400_naming_it_and_stores_nothing(shop, body, field):
    response = post("details", token_for(shop.connector, "v1"), body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert response.json()["detail"] == "Please correct the marked fields."
    assert not Client.objects.filter(external_id="v1").exists()


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "{not json"])
def test_a_malformed_body_is_a_400(shop, body):
    token = token_for(shop.connector, "v1")
    for path in ("details", "offline"):
        response = HttpClient().post(f"/api/livechat/{token}/{path}/", body, content_type="application/json")
        assert response.status_code == 400, path
    assert not Client.objects.exists()


def test_an_oversized_body_is_refused(shop, settings):
    token = token_for(shop.connector, "v1")
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = HttpClient().post(f"/api/livechat/{token}/details/", body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert not Client.objects.exists()


def test_another_channels_or_a_forged_token_is_refused(shop):
    other = ConnectorFactory(open_channel=OpenChannelFactory(name="Other"), is_active=False)
    for token in (token_for(other, "v1"), token_for(shop.connector, "v1") + "x"):
        for path in ("details", "offline"):
            response = post(path, token, {"name": "Jan", "email": "jan@example.com", "message": "Hi"})
            assert response.status_code == 403, path
    assert not Client.objects.exists()


def test_a_channel_without_the_forms_refuses_them(db):
    connector = ConnectorFactory(open_channel=OpenChannelFactory())
    token = token_for(connector, "v1")
    assert post("details", token, {"name": "Jan"}).status_code == 409
    assert post("offline", token, {"email": "jan@example.com", "message": "Hi"}).status_code == 409
    assert state(token)["details_needed"] is False
    assert state(token)["offline_form"] == ""


def test_the_forms_are_rate_limited(shop, settings):
    settings.RATE_LIMITS = {"livechat_visitor_form": {"capacity": 2, "refill_per_second": 0.0001}}
    token = token_for(shop.connector, "v1")
    body = {"name": "Jan", "email": "jan@example.com"}
    assert [post("details", token, body).status_code for _ in range(3)] == [200, 200, 429]


# --- the offline form --------------------------------------------------------------------------------------------


def test_H2_out_of_hours_the_widget_shows_the_offline_form(shop):
    close_all_day(shop.channel)
    assert state(token_for(shop.connector, "v1"))["offline_form"] == "closed"


def test_Q9_when_nobody_can_answer_the_widget_shows_the_offline_form(shop):
    token = token_for(shop.connector, "v1")
    assert state(token)["offline_form"] == "", "Olga is online and free: the chat as usual"

    # Olga's console is not connected: offline, so nobody can take the conversation (the channel checks online).
    OperatorProfile.objects.filter(user=shop.olga).update(is_online=False, console_heartbeat_at=None)

    assert state(token)["offline_form"] == "busy"


def test_H2_the_offline_form_becomes_an_offline_request_held_until_the_opening(
    shop, django_capture_on_commit_callbacks
):
    close_all_day(shop.channel)
    token = token_for(shop.connector, "v1")
    with django_capture_on_commit_callbacks(execute=True):  # routing and the C2 lead run after the commit
        response = post(
            "offline", token, {"name": "Jan Nowak", "email": "jan@example.com", "message": "Please call me back."}
        )

    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["message"]["text"] == "Please call me back."
    conversation = Conversation.objects.get(pk=answer["conversation"]["id"])
    assert conversation.is_offline_request
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.route_not_before is not None, "not offered to anyone while the channel is closed"
    assert not conversation.offers.exists()
    assert conversation.lead is not None and conversation.lead.email == "jan@example.com"
    # The visitor now has an open conversation: they write there, no second form.
    assert state(token)["offline_form"] == ""
    assert post("offline", token, {"email": "jan@example.com", "message": "Again"}).status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Jan", "email": "jan@example.com"}, "message"),
        ({"name": "Jan", "email": "jan@example.com", "message": "x" * 4001}, "message"),
        ({"name": "Jan", "message": "Call me"}, "email"),  # neither e-mail nor phone: nobody could answer
        ({"email": "jan@example.com", "message": "Hi"}, "name"),  # the channel requires the name
    ],
)
def test_an_incomplete_offline_form_is_a_400_and_stores_nothing(shop, body, field):
    response = post("offline", token_for(shop.connector, "v1"), body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Conversation.objects.exists()
    assert not Client.objects.exists()
    assert not Lead.objects.exists()


def test_nul_and_control_characters_are_dropped_not_stored(shop):
    body = {"name": "Jan\x00\n Nowak", "email": "jan@example.com", "message": "Hel\x00lo"}
    assert post("offline", token_for(shop.connector, "v1"), body).status_code == 201
    conversation = Conversation.objects.select_related("client").get()
    assert conversation.client.name == "Jan Nowak"
    assert conversation.messages.get().text == "Hello"


def test_the_offline_form_takes_a_phone_instead_of_an_e_mail(shop):
    shop.channel.prechat_email = "optional"
    shop.channel.save(update_fields=["prechat_email"])
    response = post(
        "offline", token_for(shop.connector, "v1"), {"name": "Jan", "phone": "600 100 200", "message": "Hi"}
    )
    assert response.status_code == 201
    assert Client.objects.get(external_id="v1").phone == "600 100 200"


def test_the_console_and_the_wallboard_show_the_offline_mark(shop):
    close_all_day(shop.channel)
    post("offline", token_for(shop.connector, "v1"), {"name": "Jan", "email": "jan@example.com", "message": "Hi"})
    conversation = Conversation.objects.get()

    assert _list_row(conversation)["is_offline_request"] is True
    waiting = snapshot([shop.channel], timezone.now())["channels"][0]["waiting"]
    assert [row["is_offline_request"] for row in waiting] == [True]

"""Issue 20: a connector is set up on its own page: only its source's fields, in that source's words, secrets
write-only, the webhook address and the widget snippet built from the site's real address, and two buttons that
ask the provider now (*Test connection*, *Register webhook*). The open channel's Connectors tab lists them."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from channels_app import models as m
from tests.channels_app.admin.test_admin import change_url, errors_of
from tests.factories import ConnectorFactory, OpenChannelFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/channels_app/connector/add/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def connector_url(connector: m.Connector, action: str = "change") -> str:
    return f"/admin/channels_app/connector/{connector.pk}/{action}/"


def inputs(page: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]* name="([a-z_]+)"', page))


@pytest.mark.parametrize(
    ("kind", "present", "absent"),
    [
        ("telegram", {"access_token"}, {"app_secret", "verify_token", "business_account_id", "oauth_app_id"}),
        ("facebook", {"access_token", "app_secret", "verify_token"}, {"business_account_id", "refresh_token"}),
        ("whatsapp", {"access_token", "app_secret", "verify_token", "business_account_id"}, {"oauth_app_id"}),
        ("zalo", {"access_token", "app_secret", "refresh_token", "oauth_app_id", "oauth_app_secret"}, {"verify_token"}),
        ("livechat", set(), {"access_token", "app_secret", "verify_token", "webhook_secret", "refresh_token"}),
    ],
)
def test_a_connectors_page_shows_only_its_sources_fields(admin_client, open_channel, kind, present, absent):
    connector = (
        open_channel.connectors.get()
        if kind == "livechat"
        else ConnectorFactory(open_channel=open_channel, kind=kind, account_id=f"{kind}-1")
    )
    page = admin_client.get(connector_url(connector)).content.decode()
    names = inputs(page)
    assert present <= names, present - names
    assert not (absent & names), absent & names
    assert "webhook_secret" not in names and "kind" not in names  # generated; fixed once stored


def test_the_fields_read_in_the_sources_words(admin_client, open_channel):
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="t")
    page = admin_client.get(connector_url(bot)).content.decode()
    assert "Bot token" in page and "Bot id" in page
    assert "the digits before the colon in its token" in page
    assert "Stored: set. Leave empty to keep it" in page
    livechat = open_channel.connectors.get(kind="livechat")
    page = admin_client.get(connector_url(livechat)).content.decode()
    assert "The key the widget uses is generated for you" in page
    assert "site key" not in page


def test_the_snippet_and_the_webhook_address_use_the_address_the_page_was_opened_at(
    admin_client, open_channel, settings
):
    settings.SITE_URL = settings.SITE_URL_DEFAULT  # not configured: `make run` on any port
    livechat = open_channel.connectors.get(kind="livechat")
    page = admin_client.get(connector_url(livechat), HTTP_HOST="localhost:8123").content.decode()
    assert "http://localhost:8123/static/livechat/widget.js" in page
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001")
    page = admin_client.get(connector_url(bot), HTTP_HOST="localhost:8123").content.decode()
    assert f"http://localhost:8123/webhooks/telegram/{bot.pk}/" in page


def test_a_configured_site_address_wins_over_the_request(admin_client, open_channel, settings):
    settings.SITE_URL = "https://support.example.com"
    livechat = open_channel.connectors.get(kind="livechat")
    page = admin_client.get(connector_url(livechat), HTTP_HOST="localhost:8123").content.decode()
    assert "https://support.example.com/static/livechat/widget.js" in page


def test_a_value_in_a_field_the_source_does_not_have_is_refused(admin_client, open_channel):
    data = {"open_channel": open_channel.pk, "kind": "telegram", "account_id": "7000009", "is_active": "on"}
    response = admin_client.post(ADD_URL, {**data, "access_token": "7000009:AAx", "app_secret": "stray"})
    assert "A Telegram connector has no such field: leave it empty." in errors_of(response)
    assert not m.Connector.objects.filter(kind="telegram").exists()
    assert "stray" not in response.content.decode()
    response = admin_client.post(ADD_URL, {**data, "access_token": "7000009:AAx"})
    assert response.status_code == 302
    assert m.Connector.objects.get(kind="telegram").access_token == "7000009:AAx"


def test_the_add_page_offers_the_sources_fields_to_its_script(admin_client, open_channel):
    page = admin_client.get(f"{ADD_URL}?open_channel={open_channel.pk}").content.decode()
    assert 'id="connector-kind-fields"' in page and "admin_connector/kind_fields.js" in page
    assert {"access_token", "app_secret", "business_account_id", "oauth_app_secret"} <= inputs(page)
    assert "verify_token" not in inputs(page)  # generated on save


def test_the_open_channels_connectors_tab_lists_them_with_a_link(admin_client, open_channel):
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001")
    page = admin_client.get(change_url(open_channel)).content.decode()
    group = page.split('id="connectors-group"', 1)[1].split("</fieldset>", 1)[0]
    assert "tab-connectors" in group
    assert f'href="/admin/channels_app/connector/{bot.pk}/change/"' in group
    assert f'href="/admin/channels_app/connector/add/?open_channel={open_channel.pk}"' in group
    assert 'type="password"' not in group and 'name="connectors-0-account_id"' not in group  # nothing edited here


def test_a_healthy_connector_reads_green(admin_client, open_channel):
    bot = ConnectorFactory(
        open_channel=open_channel, kind="telegram", account_id="7000001", registration_state="registered"
    )
    listing = admin_client.get("/admin/channels_app/connector/").content.decode()
    assert "✖" not in listing
    assert listing.count("✓ registered") == 1 and "✓ reachable" in listing
    bot.registration_state = m.RegistrationState.FAILED
    bot.save()
    listing = admin_client.get("/admin/channels_app/connector/").content.decode()
    assert "✖ failed" in listing


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_test_connection_says_who_the_token_belongs_to(admin_client, open_channel, provider):
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="7000001:A")
    response = admin_client.post(connector_url(bot, "test-connection"))
    assert response.status_code == 302 and response["Location"] == connector_url(bot)
    assert messages_of(response) == ["Test connection: Connected to @demo_bot (Demo bot)."]


def test_test_connection_against_a_provider_that_is_down_says_so(admin_client, open_channel, provider):
    provider.refuse_connections()
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="7000001:A")
    response = admin_client.post(connector_url(bot, "test-connection"))
    assert response.status_code == 302
    [message] = messages_of(response)
    assert message.startswith("Test connection: Could not reach 127.0.0.1:")


def test_register_webhook_runs_now_for_this_pages_address(admin_client, open_channel, provider, settings):
    settings.SITE_URL = settings.SITE_URL_DEFAULT
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="7000001:A")
    response = admin_client.post(connector_url(bot, "register-webhook"), HTTP_HOST="localhost:8123")
    assert response.status_code == 302
    url = f"http://localhost:8123/webhooks/telegram/{bot.pk}/"
    assert messages_of(response) == [f"Webhook registered at {url}. Webhook was set"]
    [call] = provider.calls("/setWebhook")
    assert call.json["url"] == url
    bot.refresh_from_db()
    assert bot.registration_state == "registered"


def test_the_buttons_refuse_what_they_cannot_do(admin_client, open_channel, provider):
    livechat = open_channel.connectors.get(kind="livechat")
    assert admin_client.post(connector_url(livechat, "test-connection")).status_code == 400
    assert admin_client.post("/admin/channels_app/connector/999999/test-connection/").status_code == 404
    assert admin_client.post("/admin/channels_app/connector/not-a-number/register-webhook/").status_code == 404
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="7000001:A")
    assert admin_client.get(connector_url(bot, "test-connection")).status_code == 405
    assert provider.requests == []


def test_a_supervisor_of_another_channel_finds_no_such_connector(client, open_channel, provider):
    from django.contrib.auth.models import Group

    from tests.factories import UserFactory

    other = OpenChannelFactory(name="Sales")
    supervisor = UserFactory(username="sam")
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    other.supervisors.add(supervisor)
    client.force_login(supervisor)
    bot = ConnectorFactory(open_channel=open_channel, kind="telegram", account_id="7000001", access_token="7000001:A")
    assert client.post(connector_url(bot, "test-connection")).status_code == 404
    assert provider.requests == []

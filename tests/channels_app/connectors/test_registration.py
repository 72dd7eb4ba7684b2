"""O5 (issue 16, point 8): every messenger connector is registered, by the command and, in the background,
when it is saved in the admin; the outcome is stored on the connector and shown there.

Against the local fake provider (Telegram's Bot API, Meta's Graph API, Zalo); Celery runs eagerly.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from channels_app import models as m
from channels_app.connectors.registry import get_source
from contact_center.celery import app as celery_app
from tests.channels_app.admin.test_admin import change_url, form_data
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.django_db

SITE = "https://support.example.com"
ADD_URL = "/admin/channels_app/connector/add/"


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE


def whatsapp(open_channel, **fields):
    values = {"account_id": "106540352242922", "access_token": "EAAGwaTOKEN", "business_account_id": "102290129340398"}
    return ConnectorFactory(open_channel=open_channel, kind=m.ConnectorKind.WHATSAPP, **{**values, **fields})


def zalo(open_channel):
    return ConnectorFactory(open_channel=open_channel, kind=m.ConnectorKind.ZALO, account_id="oa-579", access_token="z")


def connector_form(open_channel, **fields) -> dict:
    """The connector's add / change form as the browser sends it (the secret inputs empty unless typed)."""
    data = {
        "open_channel": open_channel.pk,
        "kind": "telegram",
        "account_id": "7000002",
        "business_account_id": "",
        "name": "",
        "is_active": "on",
        "access_token": "7000002:AAnewBotTOKEN",
        "app_secret": "",
        "verify_token": "verify-me",
        "webhook_secret": "hook-secret",
    }
    data.update(fields)
    return data


# --- each provider -------------------------------------------------------------------------------------------


def test_O5_whatsapp_subscribes_the_business_account_with_our_url_as_its_callback(open_channel, provider):
    connector = whatsapp(open_channel)
    url = f"{SITE}/webhooks/whatsapp/{connector.pk}/"
    result = get_source(connector.kind).register_webhook(connector, url)
    assert result.ok and result.automatic, result.detail
    [call] = provider.calls("/graph/102290129340398/subscribed_apps")
    assert call.method == "POST"
    assert call.headers["authorization"] == "Bearer EAAGwaTOKEN"
    assert call.json == {"override_callback_uri": url, "verify_token": connector.verify_token}


def test_O5_whatsapp_without_its_business_account_says_what_to_enter(open_channel, provider):
    connector = whatsapp(open_channel, business_account_id="")
    result = get_source(connector.kind).register_webhook(connector, f"{SITE}/webhooks/whatsapp/1/")
    assert (result.ok, result.automatic) == (False, False)
    assert "WhatsApp Business Account id" in result.detail
    assert provider.calls("subscribed_apps") == []


def test_O5_a_meta_refusal_is_a_failure_with_the_graph_error(open_channel, provider):
    error = {"message": "(#200) Permissions error", "type": "OAuthException", "code": 200}
    provider.fail("/subscribed_apps", 403, {"error": error})
    connector = whatsapp(open_channel)
    result = get_source(connector.kind).register_webhook(connector, f"{SITE}/webhooks/whatsapp/1/")
    assert (result.ok, result.automatic) == (False, True)
    assert "Graph API error 200: (#200) Permissions error" in result.detail


def test_O5_zalo_says_exactly_what_to_do_by_hand_with_our_url(open_channel, provider):
    connector = zalo(open_channel)
    url = f"{SITE}/webhooks/zalo/{connector.pk}/"
    result = get_source(connector.kind).register_webhook(connector, url)
    assert (result.ok, result.automatic) == (False, False)
    assert url in result.detail
    assert "oa-579" in result.detail
    assert "user_send_text" in result.detail
    assert provider.requests == []


# --- the command ---------------------------------------------------------------------------------------------


def test_O5_register_webhooks_registers_meta_and_lists_zalo_by_hand_without_failing(open_channel, provider, site):
    page = ConnectorFactory(
        open_channel=open_channel, kind=m.ConnectorKind.FACEBOOK, account_id="104857600", access_token="EAAGpage"
    )
    number = whatsapp(open_channel)
    oa = zalo(open_channel)
    out = StringIO()
    call_command("register_webhooks", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"registered  Facebook Messenger #{page.pk}")
    assert lines[1].startswith(f"registered  WhatsApp #{number.pk}")
    assert lines[2].startswith(f"by hand     Zalo #{oa.pk}")
    assert len(provider.calls("/subscribed_apps")) == 2
    connectors = m.Connector.objects.filter(pk__in=[page.pk, number.pk, oa.pk])
    states = dict(connectors.values_list("pk", "registration_state"))
    assert states == {page.pk: "registered", number.pk: "registered", oa.pk: "by_hand"}
    oa.refresh_from_db()
    assert f"{SITE}/webhooks/zalo/{oa.pk}/" in oa.registration_detail
    assert oa.registration_checked_at is not None and oa.webhook_registered_at is None


# --- saving in the admin -------------------------------------------------------------------------------------


def test_O5_a_connector_added_in_the_admin_is_registered_after_commit(
    admin_client, open_channel, provider, site, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(ADD_URL, connector_form(open_channel))
        assert response.status_code == 302
        connector = m.Connector.objects.get(kind="telegram")
        assert connector.registration_state == "pending"
        assert provider.calls("/setWebhook") == [], "the provider is never called inside the admin's transaction"
    for callback in callbacks:
        callback()
    [call] = provider.calls("/bot7000002:AAnewBotTOKEN/setWebhook")
    assert call.json["url"] == f"{SITE}/webhooks/telegram/{connector.pk}/"
    assert call.json["secret_token"] == connector.webhook_secret  # generated, never typed in the admin
    connector.refresh_from_db()
    assert (connector.registration_state, connector.registration_detail) == ("registered", "Webhook was set")
    assert connector.registration_checked_at is not None and connector.webhook_registered_at is not None


def test_O5_a_new_token_registers_again_and_a_new_label_does_not(
    admin_client, open_channel, provider, site, eager_celery, django_capture_on_commit_callbacks
):
    connector = ConnectorFactory(
        open_channel=open_channel,
        kind=m.ConnectorKind.TELEGRAM,
        account_id="7000002",
        access_token="7000002:AAoldTOKEN",
        verify_token="verify-me",
        webhook_secret="hook-secret",
    )
    url = f"/admin/channels_app/connector/{connector.pk}/change/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, connector_form(open_channel, access_token="", name="Main bot"))
    assert response.status_code == 302
    assert provider.calls("/setWebhook") == []
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, connector_form(open_channel, access_token="7000002:AAnewTOKEN"))
    assert response.status_code == 302
    assert len(provider.calls("/bot7000002:AAnewTOKEN/setWebhook")) == 1
    connector.refresh_from_db()
    assert connector.registration_state == "registered"


def test_O5_without_a_configured_address_the_admin_registers_for_the_address_it_was_opened_at(
    admin_client, open_channel, provider, settings, eager_celery, django_capture_on_commit_callbacks
):
    """Issue 20: ``make run`` on another port (SITE_URL left at its default) registers the address in use."""
    settings.SITE_URL = settings.SITE_URL_DEFAULT
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ADD_URL, connector_form(open_channel), HTTP_HOST="localhost:8123")
    assert response.status_code == 302
    connector = m.Connector.objects.get(kind="telegram")
    [call] = provider.calls("/setWebhook")
    assert call.json["url"] == f"http://localhost:8123/webhooks/telegram/{connector.pk}/"


def test_O5_the_open_channels_connectors_tab_changes_no_connector(admin_client, provider, site, open_channel):
    """Connectors are set up on their own page; rows posted to the open channel's page add or change nothing."""
    livechat = open_channel.connectors.get()
    rows = [
        {"id": livechat.pk, "kind": "telegram", "account_id": "changed", "is_active": ""},
        {"kind": "zalo", "account_id": "oa-579", "is_active": "on", "access_token": "z"},
    ]
    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"connectors": rows}))
    assert response.status_code in (200, 302)
    livechat.refresh_from_db()
    assert (livechat.kind, livechat.account_id, livechat.is_active) == ("livechat", livechat.account_id, True)
    assert list(open_channel.connectors.all()) == [livechat]
    assert provider.requests == []


def test_O5_the_admin_shows_the_registration_on_the_list_and_the_connector(admin_client, open_channel, site):
    connector = zalo(open_channel)
    connector.registration_state = m.RegistrationState.BY_HAND
    connector.registration_detail = "Zalo has no API for this; do it by hand once: set the webhook URL"
    connector.save()
    listing = admin_client.get("/admin/channels_app/connector/").content.decode()
    assert "to do by hand" in listing
    page = admin_client.get(f"/admin/channels_app/connector/{connector.pk}/change/").content.decode()
    assert "to do by hand" in page
    assert "Zalo has no API for this; do it by hand once: set the webhook URL" in page

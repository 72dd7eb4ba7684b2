"""Issue 13: a connector's access token and app secret are write-only in the admin.

Never rendered back (neither on the connector's page nor in the open channel's connectors inline, nor to a
person who may only view), never listed; an empty input on save keeps the stored value, "remove" clears it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from channels_app import models as m
from tests.channels_app.admin.test_admin import change_url, errors_of, form_data
from tests.factories import ConnectorFactory, UserFactory

TOKEN = "7000001:AAsecretBotTokenThatMustNeverShow"
APP_SECRET = "zalo-oa-secret-that-must-never-show"

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def connector(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=m.ConnectorKind.ZALO,
        account_id="oa-1",
        access_token=TOKEN,
        app_secret=APP_SECRET,
    )


def connector_url(connector: m.Connector) -> str:
    return f"/admin/channels_app/connector/{connector.pk}/change/"


def connector_form(connector: m.Connector, **overrides) -> dict:
    """The connector's change form as the browser sends it untouched: the secret inputs arrive empty."""
    data = {
        "open_channel": connector.open_channel_id,
        "kind": connector.kind,
        "account_id": connector.account_id,
        "name": connector.name,
        "is_active": "on",
        "access_token": "",
        "app_secret": "",
        "verify_token": connector.verify_token,
        "webhook_secret": connector.webhook_secret,
    }
    data.update(overrides)
    return data


def assert_secrets_absent(html: str) -> None:
    for secret in (TOKEN, APP_SECRET):
        # Neither whole nor a recognisable part ("ends in …r-show").
        assert secret not in html
        assert secret[-6:] not in html


def test_the_connector_page_shows_whether_a_secret_is_set_never_the_secret(admin_client, connector):
    page = admin_client.get(connector_url(connector)).content.decode()
    assert_secrets_absent(page)
    assert page.count("Stored: set.") == 2
    assert 'type="password" name="access_token"' in page
    assert 'autocomplete="new-password"' in page  # a browser must not fill in the administrator's own password

    connector.app_secret = ""
    connector.save()
    page = admin_client.get(connector_url(connector)).content.decode()
    assert "Stored: not set." in page


def test_the_open_channel_page_never_shows_its_connectors_secrets(admin_client, connector, open_channel):
    page = admin_client.get(change_url(open_channel)).content.decode()
    assert_secrets_absent(page)
    assert 'type="password"' not in page  # the connectors tab lists them; their own page edits them
    assert f'href="/admin/channels_app/connector/{connector.pk}/change/"' in page


def test_the_connector_list_never_shows_the_secrets(admin_client, connector):
    page = admin_client.get("/admin/channels_app/connector/").content.decode()
    assert connector.account_id in page
    assert_secrets_absent(page)


def test_saving_with_empty_secret_inputs_keeps_the_stored_secrets(admin_client, connector):
    response = admin_client.post(connector_url(connector), connector_form(connector, name="Renamed"))
    assert response.status_code == 302
    connector.refresh_from_db()
    assert (connector.name, connector.access_token, connector.app_secret) == ("Renamed", TOKEN, APP_SECRET)


def test_typing_a_secret_replaces_it_and_remove_clears_it(admin_client, connector):
    response = admin_client.post(
        connector_url(connector), connector_form(connector, access_token="7000001:NEW", clear_app_secret="on")
    )
    assert response.status_code == 302
    connector.refresh_from_db()
    assert (connector.access_token, connector.app_secret) == ("7000001:NEW", "")


def test_typing_a_secret_and_removing_it_at_once_is_refused(admin_client, connector):
    response = admin_client.post(
        connector_url(connector), connector_form(connector, access_token="7000001:NEW", clear_access_token="on")
    )
    assert "Type a new value or remove the stored one, not both." in errors_of(response)
    assert_secrets_absent(response.content.decode())
    connector.refresh_from_db()
    assert connector.access_token == TOKEN


def test_a_form_sent_back_with_an_error_does_not_echo_a_typed_secret(admin_client, connector):
    response = admin_client.post(
        connector_url(connector), connector_form(connector, account_id="", access_token="typed-NEW-token")
    )
    assert "This field is required." in errors_of(response)
    assert "typed-NEW-token" not in response.content.decode()


def test_secrets_posted_to_the_open_channel_page_change_nothing(admin_client, connector, open_channel):
    row = {"id": connector.pk, "kind": connector.kind, "account_id": connector.account_id, "is_active": "on"}
    row["access_token"] = "7000001:FROM-THE-INLINE"
    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"connectors": [row]}))
    assert response.status_code == 302, errors_of(response)
    connector.refresh_from_db()
    assert (connector.access_token, connector.app_secret) == (TOKEN, APP_SECRET)


def test_a_connector_added_in_the_admin_stores_its_secret(admin_client, open_channel):
    data = connector_form(
        m.Connector(open_channel=open_channel, kind=m.ConnectorKind.TELEGRAM, account_id="bot-2"), access_token=TOKEN
    )
    response = admin_client.post("/admin/channels_app/connector/add/", data)
    assert response.status_code == 302, errors_of(response)
    assert m.Connector.objects.get(account_id="bot-2").access_token == TOKEN


def test_a_person_who_may_only_view_sees_whether_secrets_are_set_not_the_secrets(client, connector, open_channel):
    viewer = UserFactory(username="vera-viewer")
    viewer.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_connector", "view_openchannel"], content_type__app_label="channels_app"
        )
    )
    open_channel.supervisors.add(viewer)
    client.force_login(viewer)
    for url in (connector_url(connector), change_url(open_channel)):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert_secrets_absent(page)
        assert 'name="_save"' not in page
    page = client.get(connector_url(connector)).content.decode()
    assert "Access token" in page and ">set<" in page.replace("\n", "").replace(" ", "")

"""Issue 20: the admin's *Test connection* asks each provider's identity endpoint who the stored token belongs
to, and says it in words: connected to whom, refused and why, or not reached and why.

Against the local fake provider (Telegram's Bot API, Meta's Graph API, Zalo's OA API).
"""

from __future__ import annotations

import pytest

from channels_app.connectors.registration import connector_identify
from channels_app.models import ConnectorKind
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.django_db


def connector(open_channel, kind, account_id, token="the-token"):
    return ConnectorFactory(open_channel=open_channel, kind=kind, account_id=account_id, access_token=token)


def test_telegram_getme_names_the_bot(open_channel, provider):
    bot = connector(open_channel, ConnectorKind.TELEGRAM, "7000001", token="7000001:AAtoken")
    result = connector_identify(connector=bot)
    assert result.ok
    assert result.detail == "Connected to @demo_bot (Demo bot)."
    [call] = provider.calls("/getMe")
    assert call.path == "/bot7000001:AAtoken/getMe" and call.method == "GET"


def test_telegram_says_when_the_bot_id_is_not_the_account_id(open_channel, provider):
    bot = connector(open_channel, ConnectorKind.TELEGRAM, "my-bot", token="7000001:AAtoken")
    result = connector_identify(connector=bot)
    assert result.ok
    assert "The bot's id is 7000001; the account id entered here is my-bot." in result.detail


def test_telegram_refusal_says_the_provider_refused_the_token(open_channel, provider):
    provider.fail("/getMe", 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    result = connector_identify(connector=connector(open_channel, ConnectorKind.TELEGRAM, "7000001"))
    assert not result.ok
    assert result.detail == "The provider refused the token: 401 Unauthorized"


def test_a_provider_that_is_down_could_not_be_reached(open_channel, provider):
    provider.refuse_connections()
    result = connector_identify(connector=connector(open_channel, ConnectorKind.TELEGRAM, "7000001"))
    assert not result.ok
    host = provider.url.removeprefix("http://")
    assert result.detail.startswith(f"Could not reach {host}: ")


def test_a_provider_that_does_not_answer_in_time_timed_out(open_channel, provider, settings):
    settings.CONNECTOR_HTTP_TIMEOUT_SECONDS = 0.5
    provider.slow("/getMe", 2)
    result = connector_identify(connector=connector(open_channel, ConnectorKind.TELEGRAM, "7000001"))
    assert not result.ok
    assert result.detail == f"Could not reach {provider.url.removeprefix('http://')}: timed out after 0.5 s."


def test_a_5xx_is_the_providers_trouble_not_a_refused_token(open_channel, provider):
    provider.fail("/getMe", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    result = connector_identify(connector=connector(open_channel, ConnectorKind.TELEGRAM, "7000001"))
    assert result.detail == "The provider could not answer: 502 Bad Gateway"


def test_without_a_token_nothing_is_asked(open_channel, provider):
    result = connector_identify(connector=connector(open_channel, ConnectorKind.TELEGRAM, "7000001", token=""))
    assert not result.ok
    assert result.detail == "Enter the bot token and save the connector first."
    assert provider.requests == []


def test_messenger_me_names_the_page(open_channel, provider):
    page = connector(open_channel, ConnectorKind.FACEBOOK, "104857600", token="EAAGpage")
    result = connector_identify(connector=page)
    assert (result.ok, result.detail) == (True, "Connected to the page Demo page (id 104857600).")
    [call] = provider.calls("/graph/me")
    assert call.headers["authorization"] == "Bearer EAAGpage"
    assert call.query["fields"] == ["id,name"]


def test_messenger_token_of_another_page_is_not_ok(open_channel, provider):
    result = connector_identify(connector=connector(open_channel, ConnectorKind.FACEBOOK, "999"))
    assert not result.ok
    assert "another page than the page id entered here (999)" in result.detail


def test_messenger_refusal_gives_the_graph_error(open_channel, provider):
    error = {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}
    provider.fail("/graph/me", 401, {"error": error})
    result = connector_identify(connector=connector(open_channel, ConnectorKind.FACEBOOK, "104857600"))
    assert (result.ok, result.detail) == (False, "The provider refused the token: 401 Invalid OAuth access token.")


def test_whatsapp_reads_the_phone_number_object(open_channel, provider):
    number = connector(open_channel, ConnectorKind.WHATSAPP, "106540352242922", token="EAAGwa")
    result = connector_identify(connector=number)
    assert (result.ok, result.detail) == (True, "Connected to +48 22 100 20 30 (Demo shop).")
    [call] = provider.calls("/graph/106540352242922")
    assert call.method == "GET" and call.headers["authorization"] == "Bearer EAAGwa"


def test_zalo_getoa_names_the_official_account(open_channel, provider):
    oa = connector(open_channel, ConnectorKind.ZALO, "oa-579", token="zalo-token")
    result = connector_identify(connector=oa)
    assert (result.ok, result.detail) == (True, "Connected to the Official Account Demo OA (id oa-579).")
    [call] = provider.calls("/zalo/v2.0/oa/getoa")
    assert call.method == "GET" and call.headers["access_token"] == "zalo-token"


def test_zalo_refusal_comes_with_http_200_and_an_error_code(open_channel, provider):
    provider.fail("/getoa", 200, {"error": -216, "message": "Access token is invalid"})
    result = connector_identify(connector=connector(open_channel, ConnectorKind.ZALO, "oa-579"))
    assert (result.ok, result.detail) == (False, "The provider refused the token: -216 Access token is invalid")


def test_the_website_chat_has_no_provider_to_test(open_channel):
    with pytest.raises(ValueError, match="no provider"):
        connector_identify(connector=open_channel.connectors.get(kind=ConnectorKind.LIVECHAT))

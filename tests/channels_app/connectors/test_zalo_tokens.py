"""S2: Zalo OA access tokens are refreshed before they expire, and once when Zalo refuses one as invalid.

The refresh follows Zalo's OAuth v4 refresh flow: ``POST /v4/oa/access_token``
with the app's ``secret_key`` header and the form ``refresh_token``, ``app_id``,
``grant_type=refresh_token``, answered with a new pair and ``expires_in`` as text.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from channels_app.connectors.zalo_tokens import zalo_tokens_refresh_expiring
from channels_app.models import ConnectorKind, Message
from channels_app.periodic import SWEEPS
from channels_app.tasks import refresh_zalo_tokens, send_message
from tests.channels_app.admin.test_credentials import connector_form, connector_url
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory

TOKEN_CALL = "/zalo-oauth/v4/oa/access_token"


@pytest.fixture
def oa(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.ZALO,
        account_id="388613280878808645",
        access_token="old-access-token",
        app_secret="oa-secret-key",
        refresh_token="refresh-token-1",
        oauth_app_id="360846524940903967",
        oauth_app_secret="app-secret-key",
        access_token_expires_at=timezone.now() + timedelta(minutes=40),
    )


def form(call) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(call.body.decode()).items()}


@pytest.mark.django_db
def test_S2_zalo_token_expiring_within_the_hour_is_refreshed_by_the_beat_task(oa, provider):
    before = timezone.now()
    assert refresh_zalo_tokens.apply().get() == 1
    [call] = provider.calls(TOKEN_CALL)
    assert call.headers["secret_key"] == "app-secret-key"
    assert form(call) == {
        "refresh_token": "refresh-token-1",
        "app_id": "360846524940903967",
        "grant_type": "refresh_token",
    }
    oa.refresh_from_db()
    assert oa.access_token.startswith("zalo-access-") and oa.refresh_token.startswith("zalo-refresh-")
    assert before + timedelta(seconds=90000) <= oa.access_token_expires_at <= timezone.now() + timedelta(seconds=90000)


@pytest.mark.django_db
def test_S2_zalo_token_valid_for_more_than_an_hour_is_left_alone(oa, provider):
    oa.access_token_expires_at = timezone.now() + timedelta(hours=2)
    oa.save()
    assert zalo_tokens_refresh_expiring(now=timezone.now()) == 0
    assert provider.calls(TOKEN_CALL) == []
    oa.refresh_from_db()
    assert oa.access_token == "old-access-token"


@pytest.mark.django_db
def test_S2_zalo_refused_refresh_is_kept_on_the_connector_and_the_token_unchanged(oa, provider):
    provider.fail(
        TOKEN_CALL, 200, {"error": -14014, "error_name": "Invalid parameter", "error_reason": "Invalid refresh token"}
    )
    assert zalo_tokens_refresh_expiring(now=timezone.now()) == 0
    oa.refresh_from_db()
    assert oa.access_token == "old-access-token" and oa.refresh_token == "refresh-token-1"
    assert "Invalid refresh token" in oa.token_refresh_error


def test_S2_zalo_token_sweep_runs_every_ten_minutes():
    [sweep] = [sweep for sweep in SWEEPS if sweep.task == "channels_app.connectors.tasks.refresh_zalo_tokens"]
    assert sweep.every_seconds == 600


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, {"error": -216, "message": "Access token is invalid"}),
        (401, {"error": 401, "message": "Unauthorized"}),
    ],
)
def test_S2_zalo_send_refused_for_an_invalid_token_refreshes_once_and_is_sent(oa, provider, status, answer):
    oa.access_token_expires_at = timezone.now() + timedelta(hours=20)  # revoked early: the sweep would not see it
    oa.save()
    conversation = ConversationFactory(client=ClientFactory(connector=oa, external_id="246845883529197922"))
    message = Message.objects.create(
        conversation=conversation, connector=oa, author_kind=Message.Author.OPERATOR, text="Dạ, còn hàng ạ.",
        created_at=timezone.now(), delivery=Message.Delivery.QUEUED,
    )  # fmt: skip
    provider.fail("/zalo/v3.0/oa/message/cs", status, answer)
    assert send_message.apply(args=[message.pk]).get() == "sent"
    first, second = provider.calls("/zalo/v3.0/oa/message/cs")
    oa.refresh_from_db()
    assert first.headers["access_token"] == "old-access-token"
    assert second.headers["access_token"] == oa.access_token != "old-access-token"
    assert len(provider.calls(TOKEN_CALL)) == 1


@pytest.mark.django_db
def test_S2_zalo_refresh_credentials_are_write_only_in_the_admin(client, admin_user, oa):
    client.force_login(admin_user)
    page = client.get(connector_url(oa)).content.decode()
    assert "refresh-token-1" not in page and "app-secret-key" not in page
    assert 'type="password" name="refresh_token"' in page and 'type="password" name="oauth_app_secret"' in page
    assert 'name="oauth_app_id" value="360846524940903967"' in page

    form = connector_form(oa, refresh_token="", oauth_app_secret="", oauth_app_id=oa.oauth_app_id)
    assert client.post(connector_url(oa), form).status_code == 302
    oa.refresh_from_db()
    assert (oa.refresh_token, oa.oauth_app_secret) == ("refresh-token-1", "app-secret-key")

    form = connector_form(oa, refresh_token="pasted-refresh-token", oauth_app_id=oa.oauth_app_id)
    assert client.post(connector_url(oa), form).status_code == 302
    oa.refresh_from_db()
    assert oa.refresh_token == "pasted-refresh-token"

"""Issue 13 at the webhook doors: a deeply nested body is a 400 (never a 500), and an unknown connector id gets
the very answer a wrong signature gets, for every provider, through the Django views and the ASGI door alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from cryptography.fernet import Fernet

from channels_app.models import Connector, ConnectorKind, InboundUpdate
from channels_app.web import MAX_JSON_DEPTH
from tests.channels_app.connectors.test_meta import messenger_event, page_body
from tests.channels_app.connectors.test_telegram import text_update
from tests.channels_app.connectors.test_zalo import zalo_text_event
from tests.factories import ConnectorFactory

APP_SECRET = "app-secret-0123456789"
ACCOUNT_ID = "104857600"
UNKNOWN_ID = 987_654_321


@dataclass(frozen=True)
class Provider:
    name: str  # in the URL
    kind: str

    def connector(self) -> Connector:
        return ConnectorFactory(kind=self.kind, account_id=ACCOUNT_ID, app_secret=APP_SECRET)

    def valid_body(self, *, padding_depth: int = 0) -> bytes:
        """A message as the provider sends it, which would be stored; ``padding_depth`` adds a field of that many
        nested arrays (a body too deep to parse, or one that parses but nests too deeply to store safely)."""
        bodies = {
            "telegram": text_update(),
            "meta": page_body([messenger_event("m_1", page_id=ACCOUNT_ID)], page_id=ACCOUNT_ID),
            "zalo": zalo_text_event("z1"),
        }
        body = json.dumps(bodies[self.name]).encode()
        if not padding_depth:
            return body
        return body[:-1] + b', "padding": ' + b"[" * padding_depth + b"]" * padding_depth + b"}"

    def headers(self, connector: Connector, body: bytes, *, forged: bool = False) -> dict[str, str]:
        """The provider's signature headers for ``body``; ``forged`` signs with a wrong secret."""
        secret = "forged-secret" if forged else APP_SECRET
        if self.name == "telegram":
            return {"X-Telegram-Bot-Api-Secret-Token": "forged-secret" if forged else connector.webhook_secret}
        if self.name == "meta":
            return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
        # Zalo signs app_id + body + timestamp + secret, app_id and timestamp read from the body (empty if unreadable).
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = {}
        data = data if isinstance(data, dict) else {}
        signed = str(data.get("app_id", "")).encode() + body + str(data.get("timestamp", "")).encode()
        return {"X-ZEvent-Signature": "mac=" + hashlib.sha256(signed + secret.encode()).hexdigest()}


PROVIDERS = [
    Provider("telegram", ConnectorKind.TELEGRAM),
    Provider("meta", ConnectorKind.FACEBOOK),
    Provider("zalo", ConnectorKind.ZALO),
]


def django_post(client, provider: Provider, connector_id: int, body: bytes, headers: dict[str, str]):
    return client.post(
        f"/webhooks/{provider.name}/{connector_id}/", data=body, content_type="application/json", headers=headers
    )


# --- 10a: deeply nested bodies ----------------------------------------------------------------------------


# 5000: too deep for Python's parser (RecursionError); 700: parsed, but storing it would recurse too deeply (a 500
# before the limit); MAX_JSON_DEPTH levels of padding inside the body's object: one level past the limit.
DEPTHS = [5000, 700, MAX_JSON_DEPTH]


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
@pytest.mark.parametrize("depth", DEPTHS)
def test_a_signed_deeply_nested_body_is_400_through_the_django_door(client, provider, depth):
    connector = provider.connector()
    body = provider.valid_body(padding_depth=depth)
    response = django_post(client, provider, connector.pk, body, provider.headers(connector, body))
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": "The body must be a JSON object."}
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_an_unsigned_deeply_nested_body_is_refused_like_any_forgery(client, provider):
    connector = provider.connector()
    body = provider.valid_body(padding_depth=5000)
    response = django_post(client, provider, connector.pk, body, provider.headers(connector, body, forged=True))
    assert response.status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_a_body_nested_up_to_the_limit_is_stored(client, provider):
    connector = provider.connector()
    body = provider.valid_body(padding_depth=MAX_JSON_DEPTH - 1)  # below the body object itself
    response = django_post(client, provider, connector.pk, body, provider.headers(connector, body))
    assert (response.status_code, response.json()["stored"]) == (200, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
@pytest.mark.parametrize("depth", [5000, 700])
async def test_a_signed_deeply_nested_body_is_400_through_the_asgi_door(asgi_client, provider, depth):
    connector = await sync_to_async(provider.connector)()
    body = provider.valid_body(padding_depth=depth)
    response = await asgi_client.post(
        f"/webhooks/{provider.name}/{connector.pk}/", content=body, headers=provider.headers(connector, body)
    )
    assert response.status_code == 400
    assert not await InboundUpdate.objects.aexists()


# --- 10b: an unknown connector and a bad signature look alike -----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_an_unknown_connector_and_a_bad_signature_get_the_same_answer_through_the_django_door(client, provider):
    connector = provider.connector()
    body = provider.valid_body()
    forged = django_post(client, provider, connector.pk, body, provider.headers(connector, body, forged=True))
    unknown = django_post(client, provider, UNKNOWN_ID, body, provider.headers(connector, body))
    Connector.objects.filter(pk=connector.pk).update(is_active=False)
    inactive = django_post(client, provider, connector.pk, body, provider.headers(connector, body))
    assert forged.status_code == 403
    for response in (unknown, inactive):
        assert (response.status_code, response.content) == (forged.status_code, forged.content)
        assert response["Content-Type"] == forged["Content-Type"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
async def test_an_unknown_connector_and_a_bad_signature_get_the_same_answer_through_the_asgi_door(
    asgi_client, provider
):
    connector = await sync_to_async(provider.connector)()
    body = provider.valid_body()
    forged = await asgi_client.post(
        f"/webhooks/{provider.name}/{connector.pk}/",
        content=body,
        headers=provider.headers(connector, body, forged=True),
    )
    unknown = await asgi_client.post(
        f"/webhooks/{provider.name}/{UNKNOWN_ID}/", content=body, headers=provider.headers(connector, body)
    )
    assert forged.status_code == 403
    assert (unknown.status_code, unknown.content) == (forged.status_code, forged.content)
    assert unknown.headers["content-type"] == forged.headers["content-type"]


@pytest.mark.django_db(transaction=True)
async def test_meta_subscription_check_for_an_unknown_connector_is_answered_like_a_wrong_verify_token(
    asgi_client, client
):
    page = await sync_to_async(ConnectorFactory)(
        kind=ConnectorKind.FACEBOOK, account_id="page-1", verify_token="let-me-in"
    )
    query = {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1158201444"}
    wrong = {**query, "hub.verify_token": "guess"}
    right = await asgi_client.get(f"/webhooks/meta/{page.pk}/", params=query)
    assert (right.status_code, right.text) == (200, "1158201444")
    asgi_wrong = await asgi_client.get(f"/webhooks/meta/{page.pk}/", params=wrong)
    asgi_unknown = await asgi_client.get(f"/webhooks/meta/{UNKNOWN_ID}/", params=query)
    django_wrong = await sync_to_async(client.get)(f"/webhooks/meta/{page.pk}/", wrong)
    django_unknown = await sync_to_async(client.get)(f"/webhooks/meta/{UNKNOWN_ID}/", query)
    assert asgi_wrong.status_code == 403
    assert (asgi_unknown.status_code, asgi_unknown.content) == (asgi_wrong.status_code, asgi_wrong.content)
    for response in (django_wrong, django_unknown):
        assert (response.status_code, response.content) == (asgi_wrong.status_code, asgi_wrong.content)


# --- a secret no configured key decrypts (a key rotation gone wrong) ----------------------------------------


def lose_the_key(settings) -> None:
    """The key the connectors' secrets were encrypted with is gone from the settings, fallbacks included."""
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_an_app_secret_no_key_decrypts_is_a_503_with_one_log_line(client, provider, settings, caplog):
    connector = provider.connector()
    body = provider.valid_body()
    headers = provider.headers(connector, body)
    lose_the_key(settings)
    with caplog.at_level(logging.ERROR, logger="channels_app.webhooks"):
        response = django_post(client, provider, connector.pk, body, headers)
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "Temporarily unavailable; please retry."}
    [line] = [record.getMessage() for record in caplog.records if record.name == "channels_app.webhooks"]
    assert f"connector {connector.pk}: answered 503" in line and "FIELD_ENCRYPTION_KEY_FALLBACKS" in line
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db(transaction=True)
async def test_an_app_secret_no_key_decrypts_is_a_503_through_the_asgi_door(asgi_client, settings):
    provider = PROVIDERS[1]  # meta: its signature needs the app secret
    connector = await sync_to_async(provider.connector)()
    body = provider.valid_body()
    headers = provider.headers(connector, body)
    lose_the_key(settings)
    response = await asgi_client.post(f"/webhooks/meta/{connector.pk}/", content=body, headers=headers)
    assert response.status_code == 503
    assert not await InboundUpdate.objects.aexists()


@pytest.mark.django_db
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda provider: provider.name)
def test_an_access_token_no_key_decrypts_does_not_stop_deliveries(client, provider, settings):
    """Verifying needs the app secret (or the webhook secret), never the access token."""
    connector = provider.connector()
    Connector.objects.filter(pk=connector.pk).update(access_token="a-token-under-the-old-key")
    lose_the_key(settings)
    Connector.objects.filter(pk=connector.pk).update(app_secret=APP_SECRET)  # re-encrypted under the new key
    body = provider.valid_body()
    response = django_post(client, provider, connector.pk, body, provider.headers(connector, body))
    assert (response.status_code, response.json()["stored"]) == (200, 1)

"""Hypothesis-generated webhook bodies never produce a 500 (S2, bad input).

Bodies are correctly signed so they get past verification and exercise
parsing, storage and (Celery run eagerly) processing through the inbound
services. Generated bodies follow each provider's documented shape, but any
field may be replaced by arbitrary JSON; raw bytes are tried too. After each
delivery every stored update must have left ``pending`` (processed, ignored
or failed with a reason): a crash half-way would leave it pending.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from channels_app.connectors.base import as_str
from channels_app.models import ConnectorKind, InboundUpdate
from contact_center.celery import app as celery_app
from tests.channels_app.connectors.fake_provider import FakeProvider
from tests.factories import ConnectorFactory

APP_SECRET = "fuzz-app-secret"
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30)
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=10,
)


def provider_bodies(*, strict: bool) -> dict[str, st.SearchStrategy]:
    """Bodies shaped as each provider documents; unless ``strict``, any field may be any JSON value instead."""

    def maybe(strategy):
        return strategy if strict else st.one_of(*[strategy] * 9, json_value)

    # Dedupe keys drawn from UUIDs: small values repeat across examples and would only test replays.
    update_ids = st.uuids().map(lambda u: u.int >> 75)
    message_ids = st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=40))
    ids = st.one_of(st.integers(min_value=-(2**63), max_value=2**63), st.text(min_size=1, max_size=40))
    text = st.text(max_size=200)

    telegram_user = st.fixed_dictionaries(
        {"id": maybe(ids), "is_bot": maybe(st.booleans()), "first_name": maybe(text)},
        optional={"last_name": maybe(text), "username": maybe(text)},
    )
    telegram_message = st.fixed_dictionaries(
        {
            "message_id": maybe(st.integers(min_value=1, max_value=2**31)),
            "chat": maybe(
                st.fixed_dictionaries({"id": maybe(ids), "type": maybe(st.sampled_from(["private"] * 3 + ["group"]))})
            ),
            "date": maybe(st.integers(min_value=0)),
            "from": maybe(telegram_user),
        },
        optional={
            "text": maybe(text),
            "caption": maybe(text),
            "photo": maybe(
                st.lists(st.fixed_dictionaries({"file_id": maybe(text), "file_size": maybe(st.integers())}))
            ),
            "document": maybe(st.fixed_dictionaries({"file_id": maybe(text), "file_name": maybe(text)})),
            "contact": maybe(st.fixed_dictionaries({"phone_number": maybe(text), "user_id": maybe(ids)})),
            "location": maybe(st.fixed_dictionaries({"latitude": maybe(st.floats(-90, 90)), "longitude": json_value})),
        },
    )
    telegram_update = st.builds(
        lambda update_id, kind, message: {"update_id": update_id, kind: message},
        maybe(update_ids),
        st.sampled_from(["message"] * 3 + ["edited_message", "poll"]),
        maybe(telegram_message),
    )

    messenger_event = st.fixed_dictionaries(
        {"sender": maybe(st.fixed_dictionaries({"id": maybe(ids)})), "recipient": st.just({"id": "104857600"})},
        optional={
            "message": maybe(
                st.fixed_dictionaries(
                    {"mid": maybe(st.one_of(message_ids, st.text(min_size=1, max_size=300)))},
                    optional={
                        "text": maybe(text),
                        "is_echo": maybe(st.booleans()),
                        "attachments": maybe(
                            st.lists(st.fixed_dictionaries({"type": maybe(text), "payload": st.just({"url": "x"})}))
                        ),
                    },
                )
            ),
            "message_edit": maybe(
                st.fixed_dictionaries({"mid": maybe(text), "text": maybe(text), "num_edit": json_value})
            ),
        },
    )
    whatsapp_message = st.fixed_dictionaries(
        {
            "from": maybe(st.from_regex(r"\A[0-9]{6,15}\Z")),
            "id": maybe(message_ids),
            "type": maybe(st.sampled_from(["text", "image", "document", "location", "interactive", "reaction"])),
        },
        optional={
            "text": maybe(st.fixed_dictionaries({"body": maybe(text)})),
            "image": maybe(st.fixed_dictionaries({"id": maybe(text), "caption": maybe(text)})),
            "interactive": json_value,
        },
    )
    whatsapp_change = st.fixed_dictionaries(
        {
            "field": maybe(st.just("messages")),
            "value": maybe(
                st.fixed_dictionaries(
                    {"messages": maybe(st.lists(whatsapp_message, max_size=3)), "contacts": json_value}
                )
            ),
        }
    )
    meta_body = st.one_of(
        st.fixed_dictionaries(
            {
                "object": maybe(st.just("page")),
                "entry": maybe(
                    st.lists(st.fixed_dictionaries({"messaging": maybe(st.lists(messenger_event, max_size=3))}))
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "object": maybe(st.just("whatsapp_business_account")),
                "entry": maybe(
                    st.lists(
                        st.fixed_dictionaries({"changes": maybe(st.lists(whatsapp_change, max_size=2))}), max_size=2
                    )
                ),
            }
        ),
    )
    zalo_body = st.fixed_dictionaries(
        {
            "app_id": maybe(st.just("360846524940903967")),
            "event_name": maybe(
                st.sampled_from(["user_send_text"] * 3 + ["user_send_image", "follow", "user_send_location"])
            ),
            "sender": maybe(st.fixed_dictionaries({"id": maybe(ids)})),
            "timestamp": maybe(st.integers(min_value=0).map(str)),
            "message": maybe(
                st.fixed_dictionaries(
                    {"msg_id": maybe(message_ids), "text": maybe(text)},
                    optional={"attachments": json_value},
                )
            ),
        },
        optional={"user_id_by_app": json_value},
    )
    return {"telegram": telegram_update, "meta": meta_body, "zalo": zalo_body}


STRICT = provider_bodies(strict=True)
LOOSE = provider_bodies(strict=False)
any_bytes = st.one_of(st.binary(max_size=200), json_value.map(lambda v: json.dumps(v).encode()))


@pytest.fixture
def fuzz_env(settings, open_channel):
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    with FakeProvider() as provider:
        provider.use_in(settings)
        connectors = {
            "telegram": ConnectorFactory(
                open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="1", access_token="1:x"
            ),
            "meta": ConnectorFactory(
                open_channel=open_channel,
                kind=ConnectorKind.FACEBOOK,
                account_id="104857600",
                access_token="t",
                app_secret=APP_SECRET,
            ),
            "zalo": ConnectorFactory(
                open_channel=open_channel,
                kind=ConnectorKind.ZALO,
                account_id="9",
                access_token="t",
                app_secret=APP_SECRET,
            ),
        }
        yield connectors
    celery_app.conf.task_always_eager = saved


_fresh = itertools.count(10**12)


def with_fresh_keys(source: str, body: dict) -> dict:
    """Hypothesis reuses ids across the examples it mutates; fresh dedupe keys make each body reach processing."""
    if source == "telegram":
        body["update_id"] = next(_fresh)
    elif source == "zalo":
        body["message"]["msg_id"] = f"z{next(_fresh)}"
    elif body["object"] == "page":
        for entry in body["entry"]:
            for event in entry["messaging"]:
                event.get("message", {})["mid"] = f"m_{next(_fresh)}"
    else:
        for entry in body["entry"]:
            for change in entry["changes"]:
                for message in change["value"]["messages"]:
                    message["id"] = f"wamid.{next(_fresh)}"
    return body


def deliver(client, connectors, source: str, raw: bytes):
    connector = connectors[source]
    headers = {}
    if source == "telegram":
        headers["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = connector.webhook_secret
    elif source == "meta":
        headers["HTTP_X_HUB_SIGNATURE_256"] = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    else:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        signed = (
            as_str(body.get("app_id")).encode() + raw + as_str(body.get("timestamp")).encode() + APP_SECRET.encode()
        )
        headers["HTTP_X_ZEVENT_SIGNATURE"] = "mac=" + hashlib.sha256(signed).hexdigest()
    response = client.post(f"/webhooks/{source}/{connector.pk}/", data=raw, content_type="application/json", **headers)
    assert response.status_code in (200, 400), response.content
    assert not InboundUpdate.objects.filter(state="pending").exists()
    # Shown by --hypothesis-show-statistics: how many examples reached storage and processing.
    answer = response.json()
    outcome = "ignored" if answer.get("ignored") else "new" if answer.get("stored") else "duplicate or refused"
    event(f"HTTP {response.status_code}: {outcome}")
    return response


@pytest.mark.django_db
@FUZZ
@given(source=st.sampled_from(["telegram", "meta", "zalo"]), data=st.data())
def test_s2_documented_shapes_with_generated_values_never_500(client, fuzz_env, source, data):
    body = with_fresh_keys(source, data.draw(STRICT[source]))
    deliver(client, fuzz_env, source, json.dumps(body, ensure_ascii=False).encode())


@pytest.mark.django_db
@FUZZ
@given(source=st.sampled_from(["telegram", "meta", "zalo"]), data=st.data())
def test_s2_documented_shapes_with_wrong_field_types_never_500(client, fuzz_env, source, data):
    body = data.draw(LOOSE[source])
    deliver(client, fuzz_env, source, json.dumps(body, ensure_ascii=False).encode())


@pytest.mark.django_db
@FUZZ
@given(source=st.sampled_from(["telegram", "meta", "zalo"]), raw=any_bytes)
def test_s2_generated_raw_bodies_never_500(client, fuzz_env, source, raw):
    deliver(client, fuzz_env, source, raw)

"""Authorization sweep over every HTTP route: each person who must be refused is refused, and nothing changes.

The table :data:`ATTACKS` names every route of the project (the admin's are
swept separately, model by model). :func:`test_every_route_has_an_authorization_case`
fails when a route is added without saying who must be refused there, so the
sweep cannot silently fall behind the URL configuration.

Refusals: anonymous API calls 403 (401 for the bot API, which has its own
scheme), pages redirect to the sign-in; an operator of another open channel
gets 404 for a conversation (its existence is not revealed); a visitor's token
opens only that visitor's own conversation; a bot's token only its own open
channel's conversations (O4, B1, S1).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.core import mail, signing
from django.core.files import File
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from channels_app.engine.file_links import visitor_file_signature
from channels_app.livechat.visitors import VISITOR_TOKEN_SALT
from tests.security.conftest import ALICE_SECRET, fingerprint

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass(frozen=True)
class Attack:
    """One request someone must not get away with."""

    persona: str  # anonymous | mallory (operator of another open channel) | nina (not an operator) | bot tokens…
    method: str
    path: str
    expected: int
    data: dict | None = None
    headers: dict = field(default_factory=dict)
    location_prefix: str = ""  # for redirects: where the refusal sends the browser


def _client(world, persona: str) -> HttpClient:
    client = HttpClient()
    if persona in ("mallory", "nina", "olga"):
        client.force_login(getattr(world, persona))
    return client


def _forged_token(world) -> str:
    """Alice's token with Eve's visitor id pasted in: the signature no longer matches."""
    signed = signing.dumps({"c": world.livechat.pk, "v": "eve-visitor-id"}, salt=VISITOR_TOKEN_SALT)
    return world.alice_token.split(":")[0] + ":" + signed.split(":", 1)[1]


def _conversation_attacks(name: str, method: str = "GET") -> Callable:
    def attacks(world) -> list[Attack]:
        path = reverse(name, args=[world.alice.pk])
        return [
            Attack("anonymous", method, path, 403),
            Attack("nina", method, path, 403),
            Attack("mallory", method, path, 404),
        ]

    return attacks


def _file_attacks(name: str) -> Callable:
    """Alice's files: nobody outside Support, and no visitor but Alice (a signed link names its one client)."""

    def attacks(world) -> list[Attack]:
        photo = world.alice_photo
        path = reverse(name, args=[photo.public_id])
        bobs_link = visitor_file_signature(photo, world.bob.client_id)
        return [
            Attack("anonymous", "GET", path, 404),
            Attack("nina", "GET", path, 404),
            Attack("mallory", "GET", path, 404),
            Attack("anonymous", "GET", f"{path}?v={bobs_link}", 404),
            Attack("anonymous", "GET", f"{path}?v=forged", 403),
            Attack("mallory", "POST", path, 405),
        ]

    return attacks


def _upload_attacks(world) -> list[Attack]:
    path = reverse("api-conversation-files", args=[world.alice.pk])
    return [
        Attack("anonymous", "POST", path, 403),
        Attack("nina", "POST", path, 403),
        Attack("mallory", "POST", path, 404),
    ]


def _console_read_attacks(name: str) -> Callable:
    def attacks(world) -> list[Attack]:
        path = reverse(name)
        # Mallory reads her own console: 200, but nothing of Support may be in it (checked below).
        return [
            Attack("anonymous", "GET", path, 403),
            Attack("nina", "GET", path, 403),
            Attack("mallory", "GET", path, 200),
        ]

    return attacks


def _livechat_state_attacks(world) -> list[Attack]:
    return [
        Attack("anonymous", "GET", reverse("api-livechat-state", args=["not-a-token"]), 403),
        Attack("anonymous", "GET", reverse("api-livechat-state", args=[_forged_token(world)]), 403),
        # Eve's own, valid token: she sees her (empty) chat and nothing of Alice's.
        Attack("anonymous", "GET", reverse("api-livechat-state", args=[world.eve_token]), 200),
    ]


def _livechat_transcript_attacks(world) -> list[Attack]:
    body = {"email": "eve@example.com"}
    return [
        Attack("anonymous", "POST", reverse("api-livechat-transcript", args=["not-a-token"]), 403, body),
        Attack("anonymous", "POST", reverse("api-livechat-transcript", args=[_forged_token(world)]), 403, body),
        Attack("anonymous", "POST", reverse("api-livechat-transcript", args=[world.eve_token]), 409, body),
    ]


def _livechat_files_attacks(world) -> list[Attack]:
    def body() -> dict:
        return {"file": SimpleUploadedFile("drawing.svg", b"<svg onload='alert(1)'/>", "image/svg+xml")}

    path = lambda token: reverse("api-livechat-files", args=[token])  # noqa: E731
    return [
        Attack("anonymous", "POST", path("not-a-token"), 403, body()),
        Attack("anonymous", "POST", path(_forged_token(world)), 403, body()),
        # Eve's own, valid token: a file of a type no chat takes is refused before anything is stored.
        Attack("anonymous", "POST", path(world.eve_token), 400, body()),
    ]


def _livechat_form_attacks(name: str, body: dict) -> Callable:
    """The widget's forms (issue 15): only a genuine visitor token of an active widget; Eve's own token on a
    channel without the forms is refused too, and nothing is stored."""

    def attacks(world) -> list[Attack]:
        path = lambda token: reverse(name, args=[token])  # noqa: E731
        return [
            Attack("anonymous", "POST", path("not-a-token"), 403, body),
            Attack("anonymous", "POST", path(_forged_token(world)), 403, body),
            Attack("anonymous", "POST", path(world.eve_token), 409, body),
        ]

    return attacks


def _bot_attacks(name: str, body: dict) -> Callable:
    def attacks(world) -> list[Attack]:
        carol = reverse(name, args=[world.carol.pk])
        alice = reverse(name, args=[world.alice.pk])
        bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
        return [
            Attack("anonymous", "POST", carol, 401, body),
            Attack("wrong bot token", "POST", carol, 401, body, bearer("not-the-token")),
            Attack("another bot's token", "POST", carol, 403, body, bearer(world.intruder_bot.api_token)),
            # The right bot, but Alice's conversation belongs to an open channel that does not use it.
            Attack("helpdesk bot", "POST", alice, 403, body, bearer(world.helpdesk_bot.api_token)),
            # An operator's session is not a bot's credential.
            Attack("mallory", "POST", carol, 401, body),
        ]

    return attacks


def _console_page_attacks(world) -> list[Attack]:
    path = reverse("console")
    return [
        Attack("anonymous", "GET", path, 302, location_prefix=reverse("console-login")),
        Attack("nina", "GET", path, 403),
    ]


def _kpi_attacks(name: str, *, with_id: bool = False, method: str = "GET") -> Callable:
    def attacks(world) -> list[Attack]:
        path = reverse(name, args=[world.alice.pk] if with_id else [])
        data = {"score": "1", "comment": "forged rating"} if method == "POST" else None
        return [
            Attack("anonymous", method, path, 302, data, location_prefix="/console/login/"),
            Attack("mallory", method, path, 403, data),
            Attack("olga", method, path, 403, data),
        ]

    return attacks


def _supervisor_action_attacks(name: str, body: dict) -> Callable:
    """The supervisor's actions (REST): without the KPI permission, nobody gets past the door, whatever the id."""

    def attacks(world) -> list[Attack]:
        path = reverse(name, args=[world.alice.pk])
        return [
            Attack("anonymous", "POST", path, 403, body),
            Attack("mallory", "POST", path, 403, body),
            Attack("olga", "POST", path, 403, body),
            Attack("mallory", "GET", path, 403),
        ]

    return attacks


def _webhook_attacks(world) -> list[Attack]:
    update = {"update_id": 1, "message": {"message_id": 1, "from": {"id": 7}, "chat": {"id": 7}, "text": "forged"}}
    path = reverse("webhook-telegram", args=[world.telegram.pk])
    secret = "X-Telegram-Bot-Api-Secret-Token"
    return [
        Attack("anonymous", "POST", path, 403, update),
        Attack("another connector's secret", "POST", path, 403, update, {secret: world.livechat.webhook_secret}),
        # An unknown connector and a bad signature get the same answer: ids reveal nothing (issue 13).
        Attack("unknown connector", "POST", reverse("webhook-telegram", args=[999_999]), 403, update),
        # A live-chat connector has no Telegram door, even with its own secret.
        Attack(
            "wrong kind", "POST", reverse("webhook-telegram", args=[world.livechat.pk]), 403, update,
            {secret: world.livechat.webhook_secret},
        ),
    ]  # fmt: skip


def _meta_webhook_attacks(world) -> list[Attack]:
    path = reverse("webhook-meta", args=[world.telegram.pk])
    challenge = "?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=42"
    return [
        Attack("anonymous", "GET", path + challenge, 403),
        Attack("anonymous", "POST", path, 403, {"object": "page", "entry": []}),
    ]


def _zalo_webhook_attacks(world) -> list[Attack]:
    return [Attack("anonymous", "POST", reverse("webhook-zalo", args=[world.telegram.pk]), 403, {"event_name": "x"})]


def _logout_attacks(world) -> list[Attack]:
    # Signing out is a POST (with the CSRF token) in Django 5; a GET link planted elsewhere does nothing.
    return [Attack("mallory", "GET", reverse("console-logout"), 405)]


def _livechat_page_attacks(name: str) -> Callable:
    def attacks(world) -> list[Attack]:
        return [Attack("anonymous", "GET", reverse(name, args=["no-such-widget-key"]), 404)]

    return attacks


ATTACKS: dict[str, Callable] = {
    "api-console-state": _console_read_attacks("api-console-state"),
    "api-console-conversations": _console_read_attacks("api-console-conversations"),
    "api-console-status": lambda world: [
        Attack("anonymous", "POST", reverse("api-console-status"), 403, {"action": "clock_out"}),
        Attack("nina", "POST", reverse("api-console-status"), 403, {"action": "clock_out"}),
    ],
    "api-conversation": _conversation_attacks("api-conversation"),
    "api-conversation-messages": _conversation_attacks("api-conversation-messages"),
    "api-conversation-transfer-targets": _conversation_attacks("api-conversation-transfer-targets"),
    "api-conversation-lead": _conversation_attacks("api-conversation-lead", method="POST"),
    "api-conversation-files": _upload_attacks,
    "attachment-file": _file_attacks("attachment-file"),
    "attachment-thumbnail": _file_attacks("attachment-thumbnail"),
    "api-livechat-state": _livechat_state_attacks,
    "api-livechat-transcript": _livechat_transcript_attacks,
    "api-livechat-files": _livechat_files_attacks,
    "bot-api-messages": _bot_attacks("bot-api-messages", {"text": "Injected by another bot"}),
    "bot-api-handover": _bot_attacks("bot-api-handover", {"reason": "hijack"}),
    "console": _console_page_attacks,
    "console-logout": _logout_attacks,
    "livechat-frame": _livechat_page_attacks("livechat-frame"),
    "livechat-demo": _livechat_page_attacks("livechat-demo"),
    "kpi:overview": _kpi_attacks("kpi:overview"),
    "kpi:export": _kpi_attacks("kpi:export"),
    "kpi:conversations": _kpi_attacks("kpi:conversations"),
    "kpi:conversation": _kpi_attacks("kpi:conversation", with_id=True, method="POST"),
    "kpi:wallboard": _kpi_attacks("kpi:wallboard"),
    "supervisor-api:take-over": _supervisor_action_attacks("supervisor-api:take-over", {}),
    "supervisor-api:reassign": _supervisor_action_attacks("supervisor-api:reassign", {"to_queue": True}),
    "supervisor-api:close": _supervisor_action_attacks("supervisor-api:close", {}),
    "supervisor-api:notes": _supervisor_action_attacks("supervisor-api:notes", {"text": "forged note"}),
    "console-language": lambda world: [
        Attack(
            "anonymous", "POST", reverse("console-language"), 302, {"language": "pl"}, location_prefix="/console/login/"
        ),
        Attack("nina", "POST", reverse("console-language"), 403, {"language": "pl"}),
        Attack("mallory", "GET", reverse("console-language"), 405),
    ],
    "livechat-email-confirm": lambda world: [
        Attack("anonymous", "GET", reverse("livechat-email-confirm", args=["not-a-token"]), 400),
        Attack("anonymous", "POST", reverse("livechat-email-confirm", args=["not-a-token"]), 400),
    ],
    "webhook-telegram": _webhook_attacks,
    # Closed unless METRICS_TOKEN or METRICS_ALLOWED_NETWORKS is set; a session is never a credential there.
    "metrics": lambda world: [
        Attack("anonymous", "GET", reverse("metrics"), 403),
        Attack("mallory", "GET", reverse("metrics"), 403),
        Attack("anonymous", "GET", reverse("metrics"), 403, headers={"Authorization": "Bearer guess"}),
    ],
    "webhook-meta": _meta_webhook_attacks,
    "webhook-zalo": _zalo_webhook_attacks,
    "api-livechat-details": _livechat_form_attacks("api-livechat-details", {"name": "Eve", "email": "eve@example.com"}),
    "api-livechat-offline": _livechat_form_attacks(
        "api-livechat-offline", {"name": "Eve", "email": "eve@example.com", "message": "Hello"}
    ),
    "api-console-history": lambda world: [
        *_console_read_attacks("api-console-history")(world),
        # Mallory (Sales) searches for Alice's words, in Support's channel, and for Support's status: nothing.
        Attack("mallory", "GET", reverse("api-console-history") + "?q=card+4242+order", 200),
        Attack("mallory", "GET", reverse("api-console-history") + f"?open_channel={world.alice.open_channel_id}", 200),
        Attack("mallory", "GET", reverse("api-console-history") + "?status=queued", 200),
        Attack("mallory", "GET", reverse("api-console-history") + "?open_channel=Support", 400),
        Attack("mallory", "GET", reverse("api-console-history") + "?cursor=forged", 400),
    ],
    "api-console-history-filters": _console_read_attacks("api-console-history-filters"),
    "api-conversation-timeline": _conversation_attacks("api-conversation-timeline"),
    # Issue 15: notes and their mention candidates need the console and the conversation; notifications are the
    # person's own (Olga's about Alice carries Alice's secret: nobody else may list, read or mark it).
    "api-conversation-notes": _conversation_attacks("api-conversation-notes", method="POST"),
    "api-conversation-mention-candidates": _conversation_attacks("api-conversation-mention-candidates"),
    "api-notifications": lambda world: [
        Attack("anonymous", "GET", reverse("api-notifications"), 403),
        Attack("mallory", "GET", reverse("api-notifications"), 200),
        Attack("nina", "GET", reverse("api-notifications"), 200),
        Attack("mallory", "GET", reverse("api-notifications") + "?before=x", 400),
    ],
    "api-notification-read": lambda world: [
        Attack("anonymous", "POST", reverse("api-notification-read", args=[world.olga_notification.pk]), 403),
        Attack("mallory", "POST", reverse("api-notification-read", args=[world.olga_notification.pk]), 404),
        Attack("nina", "POST", reverse("api-notification-read", args=[world.olga_notification.pk]), 404),
        Attack("mallory", "GET", reverse("api-notification-read", args=[world.olga_notification.pk]), 405),
    ],
    "api-notifications-read-all": lambda world: [
        Attack("anonymous", "POST", reverse("api-notifications-read-all"), 403),
        Attack("mallory", "POST", reverse("api-notifications-read-all"), 200),  # her own: none, Olga's stays unread
    ],
    "kpi:notifications": lambda world: [
        Attack("anonymous", "GET", reverse("kpi:notifications"), 302, location_prefix="/console/login/"),
        Attack("mallory", "GET", reverse("kpi:notifications"), 403),
        Attack("olga", "POST", reverse("kpi:notifications"), 403, {"read": str(world.olga_notification.pk)}),
    ],
    # Issue 19: personal data exports are for administrators only; Olga holds Alice's conversation and still may not.
    "api-privacy-exports": lambda world: [
        Attack(persona, "POST", reverse("api-privacy-exports"), 403, {"client": world.alice.client_id})
        for persona in ("anonymous", "olga", "mallory", "nina")
    ],
    "api-privacy-export": lambda world: [
        Attack(persona, "GET", reverse("api-privacy-export", args=[world.alice_export.public_id]), 403)
        for persona in ("anonymous", "olga", "mallory", "nina")
    ],
    "privacy-export-download": lambda world: [
        Attack(
            "anonymous",
            "GET",
            reverse("privacy-export-download", args=[world.alice_export.public_id]),
            302,
            location_prefix="/admin/login/",
        ),
        *[
            Attack(persona, "GET", reverse("privacy-export-download", args=[world.alice_export.public_id]), 403)
            for persona in ("olga", "mallory", "nina")
        ],
        Attack("olga", "POST", reverse("privacy-export-download", args=[world.alice_export.public_id]), 405),
    ],
    # Issue 19: erasing personal data is for administrators only; Olga holds Alice's conversation, and still may not.
    "api-privacy-client-erase": lambda world: [
        Attack(persona, "POST", reverse("api-privacy-client-erase", args=[world.alice.client_id]), 403)
        for persona in ("anonymous", "mallory", "nina", "olga")
    ],
    "api-privacy-contact-erase": lambda world: [
        Attack(persona, "POST", reverse("api-privacy-contact-erase", args=[1]), 403)
        for persona in ("anonymous", "mallory", "nina", "olga")
    ],
    # Issue 19: only a genuine visitor token withdraws, and only its own visitor's consent (Eve has none: nothing
    # changes); the console's button is for who may see the conversation; the audit log for administrators.
    "api-livechat-consent-withdraw": lambda world: [
        Attack("anonymous", "POST", reverse("api-livechat-consent-withdraw", args=["not-a-token"]), 403),
        Attack("anonymous", "POST", reverse("api-livechat-consent-withdraw", args=[_forged_token(world)]), 403),
        Attack("anonymous", "POST", reverse("api-livechat-consent-withdraw", args=[world.eve_token]), 200),
    ],
    "api-conversation-consent-withdraw": _conversation_attacks("api-conversation-consent-withdraw", method="POST"),
    "api-privacy-audit": lambda world: [
        Attack(persona, "GET", reverse("api-privacy-audit"), 403)
        for persona in ("anonymous", "nina", "mallory", "olga")
    ],
}

# Public on purpose: nothing behind them belongs to anyone.
PUBLIC_ROUTES = {
    "healthz": "liveness probe for load balancers; says only ok / unavailable",
    "readyz": "readiness probe: which check fails and how old a heartbeat is, nothing about anyone's data",
    "api-schema": "the OpenAPI description of the public API",
    "api-docs": "Swagger UI over that description",
    "console-login": "the sign-in form",
    "console-jsi18n": "the console's translated UI strings (the same for everyone)",
    "set_language": "Django's language switch: sets the visitor's own language cookie, changes no data",
    "consent-form-version": "the consent notice a messenger client is sent a link to (A1): the form's public text",
}


def _named_routes() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # swept model by model in test_admin_refuses_non_staff
                child = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, child)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_has_an_authorization_case():
    unaccounted = _named_routes() - set(ATTACKS) - set(PUBLIC_ROUTES)
    assert not unaccounted, f"routes without an authorization case in tests/security: {sorted(unaccounted)}"
    stale = (set(ATTACKS) | set(PUBLIC_ROUTES)) - _named_routes()
    assert not stale, f"cases for routes that no longer exist: {sorted(stale)}"


def _send(client: HttpClient, attack: Attack):
    kwargs = {"headers": attack.headers}
    if attack.method == "GET":
        return client.get(attack.path, **kwargs)
    if attack.data and any(isinstance(value, File) for value in attack.data.values()):
        return client.post(attack.path, attack.data, **kwargs)  # multipart: an upload
    if attack.path.startswith("/webhooks/") or attack.path.startswith("/api/"):
        return client.generic(
            attack.method, attack.path, json.dumps(attack.data or {}), content_type="application/json", **kwargs
        )
    return client.post(attack.path, attack.data or {}, **kwargs)


def _support_data_in(answer: dict, world) -> bool:
    """Does a console answer list Support (Mallory's console must show only Sales)?"""
    listed = [
        row["id"] for key in ("offered", "mine", "queued", "results", "conversations") for row in answer.get(key, [])
    ]
    channels = [channel["name"] for channel in answer.get("open_channels", [])]
    return bool({world.alice.pk, world.bob.pk} & set(listed)) or "Support" in channels


@pytest.mark.parametrize("route", sorted(ATTACKS))
def test_O4_every_route_refuses_who_it_must_and_changes_nothing(world, route):
    before = fingerprint()
    mail.outbox.clear()
    for attack in ATTACKS[route](world):
        response = _send(_client(world, attack.persona), attack)
        body = response.content.decode(errors="replace")
        assert response.status_code == attack.expected, (attack, body[:300])
        if attack.location_prefix:
            assert response["Location"].startswith(attack.location_prefix), (attack, response["Location"])
        # Whatever came back, none of Alice's conversation leaked into it.
        assert ALICE_SECRET not in body, attack
        if attack.expected == 200 and response.get("Content-Type", "").startswith("application/json"):
            assert not _support_data_in(response.json(), world), (attack, "another open channel's data listed")
    assert fingerprint() == before, f"{route}: a refused request changed data"
    assert not [m for m in mail.outbox if ALICE_SECRET in m.body], "Alice's transcript was mailed to someone else"


def test_S1_another_visitors_token_never_shows_alices_chat(world):
    """Eve's valid token of the same widget reads Eve's (empty) chat; Alice's own token reads Alice's."""
    eve = HttpClient().get(reverse("api-livechat-state", args=[world.eve_token])).json()
    assert eve["conversation"] is None and eve["messages"] == []
    alice = HttpClient().get(reverse("api-livechat-state", args=[world.alice_token])).json()
    assert ALICE_SECRET in [message["text"] for message in alice["messages"]]
    # A token of another open channel's widget with the same visitor id is another visitor there.
    same_id_elsewhere = HttpClient().get(reverse("api-livechat-state", args=[world.sales_token])).json()
    assert same_id_elsewhere["conversation"] is None


def test_O4_admin_refuses_non_staff_on_every_model(world):
    """Every admin page of every registered model sends anonymous users and non-staff operators to the sign-in."""
    before = fingerprint()
    login = reverse("admin:login")
    paths = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        paths.append(reverse(f"admin:{info[0]}_{info[1]}_changelist"))
        paths.append(reverse(f"admin:{info[0]}_{info[1]}_add"))
    assert len(paths) > 10
    for persona in ("anonymous", "mallory", "olga"):
        client = _client(world, persona)
        for path in paths:
            response = client.get(path)
            assert response.status_code == 302 and response["Location"].startswith(login), (persona, path)
            response = client.post(path, {"name": "Injected"})
            assert response.status_code == 302 and response["Location"].startswith(login), (persona, path)
    assert fingerprint() == before


def test_connector_buttons_refuse_who_does_not_use_the_admin(world, settings):
    """Issue 20: *Test connection* and *Register webhook* send nobody outside the admin anywhere but the sign-in,
    and change nothing (the teams' view of them: tests/security/test_matrix.py)."""
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"
    before = fingerprint()
    for action in ("test_connection", "register_webhook"):
        path = reverse(f"admin:channels_app_connector_{action}", args=[world.telegram.pk])
        for persona in ("anonymous", "mallory", "nina", "olga"):
            response = _client(world, persona).post(path)
            assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), (persona, path)
    assert fingerprint() == before

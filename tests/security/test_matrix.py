"""The authorization matrix: every route, admin page and console socket action, for every role, on each team's data.

Two teams, **North** (channel A) and **South** (channel B), and six people: anonymous, the operator of each
team, the supervisor of each team, and an administrator (the Administrators group, not a superuser). Every row
of team A carries the word "Alpha" (client, operator, messages, lead, contact) and every row of team B
"Bravo", so a page that leaks the other team's data is caught by looking for that word.

- :func:`test_every_route_has_a_rule` fails when a URL is added without a rule in :data:`RULES`.
- :func:`test_route` sends each route's request as each person, about each team's object, and checks the
  status, that a refused request changed nothing, and that nobody but an administrator reads the other team.
- :func:`test_admin_model` does the same for every model registered in the admin; a model registered without
  a rule in :data:`ADMIN_SCOPES` fails.
- :func:`test_console_socket_actions` covers every console socket action (a new action without a rule fails).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from channels_app.console.consumer import ConsoleConsumer
from channels_app.engine import access, ratelimit
from channels_app.engine.attachments import attachments_add, file_store_upload
from channels_app.engine.audit import audit_record
from channels_app.livechat.email_confirmation import confirmation_token_issue
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    AuditAction,
    ClientRating,
    ConsentForm,
    ConsentRecord,
    ConversationStatus,
    DataExport,
    Holiday,
    InboundUpdate,
    LeavePeriod,
    Message,
    Notification,
    Offer,
    WhatsAppTemplate,
)
from crm.models import Contact, Lead
from kpi.models import SupervisorRating
from kpi.services import responses_record
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)
from tests.security.conftest import fingerprint
from tests.sockets import console_communicator

pytestmark = pytest.mark.django_db(transaction=True)

RATE_LIMIT_NAMES = [limit().scope for limit in ratelimit.LIMITS]
PERSONAS = ("anonymous", "operator_a", "operator_b", "supervisor_a", "supervisor_b", "administrator")
TEAMS = ("a", "b")
MARKER = {"a": "Alpha", "b": "Bravo"}
OTHER = {"a": "b", "b": "a"}


def team_of(persona: str) -> str | None:
    return persona[-1] if persona.endswith(("_a", "_b")) else None


# --- the two teams ----------------------------------------------------------------------------------------


_extra_numbers = itertools.count(1)


def _team(key: str, name: str, now):
    word = MARKER[key]
    channel = OpenChannelFactory(
        name=name,
        welcome_enabled=False,
        kpi_initial_enabled=True,
        kpi_initial_target_seconds=10,
        kpi_miss_template="#OPERATOR# missed #DIALOG#.",
    )
    operator = OperatorFactory(username=f"{word.lower()}_op", first_name=word, last_name="Agent")
    colleague = OperatorFactory(username=f"{word.lower()}_second", first_name=word, last_name="Second")
    QueueMemberFactory(open_channel=channel, operator=operator, position=0)
    QueueMemberFactory(open_channel=channel, operator=colleague, position=1)
    supervisor = UserFactory(username=f"{word.lower()}_supervisor", first_name=word, last_name="Boss")
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    channel.supervisors.add(supervisor)
    livechat = ConnectorFactory(open_channel=channel, kind="livechat", name=f"{word} website")
    telegram = ConnectorFactory(open_channel=channel, kind="telegram", account_id=f"{word.lower()}-bot")

    def conversation(label: str, **fields):
        client = ClientFactory(connector=livechat, name=f"{word} {label}", external_id=f"{word.lower()}-{label}")
        return ConversationFactory(client=client, created_at=now - timedelta(minutes=5), **fields)

    held = conversation("client", status=ConversationStatus.ACTIVE, operator=operator, assigned_at=now)
    Message.objects.create(
        conversation=held,
        connector=livechat,
        author_kind=Message.Author.CLIENT,
        text=f"{word} secret: my card ends in 4242",
        created_at=now - timedelta(minutes=3),
    )
    reply = Message.objects.create(
        conversation=held,
        connector=livechat,
        author_kind=Message.Author.OPERATOR,
        author=operator,
        text=f"{word} reply",
        created_at=now - timedelta(minutes=2),
    )
    # A photo in the reply (with its thumbnail), for the file door.
    photo = file_store_upload(
        open_channel=channel, upload=SimpleUploadedFile(f"{word}.png", PNG, "image/png"), name=f"{word}.png",
        mime_type="image/png",
    )  # fmt: skip
    (photo_row,) = attachments_add(reply, [photo], now)
    # Issue 15.5: a reply the messenger refused, for the console's retry.
    undelivered = Message.objects.create(
        conversation=held, connector=livechat, author_kind=Message.Author.OPERATOR, author=operator,
        text=f"{word} undelivered", created_at=now - timedelta(minutes=1), delivery=Message.Delivery.FAILED,
        delivery_error=f"{word} refused",
    )  # fmt: skip
    responses_record(conversation_id=held.pk, now=now)  # the reply came after the 10 s target: a miss
    # S2: a WhatsApp conversation past Meta's 24-hour window, and its number's approved template.
    whatsapp = ConnectorFactory(open_channel=channel, kind="whatsapp", account_id=f"{word.lower()}-phone")
    template = WhatsAppTemplate.objects.create(
        connector=whatsapp, name=f"{word.lower()}_hello", language="en", body=f"{word}: hello {{{{1}}}}"
    )
    whatsapp_held = ConversationFactory(
        client=ClientFactory(connector=whatsapp, name=f"{word} phone", external_id=f"{word.lower()}-phone"),
        status=ConversationStatus.ACTIVE, operator=operator, assigned_at=now - timedelta(days=2),
        last_client_message_at=now - timedelta(days=2), created_at=now - timedelta(days=2),
    )  # fmt: skip
    to_transfer = conversation("transfer", status=ConversationStatus.ACTIVE, operator=operator, assigned_at=now)
    to_close = conversation("close", status=ConversationStatus.ACTIVE, operator=operator, assigned_at=now)
    offered = conversation("offered", status=ConversationStatus.OFFERED)
    to_decline = conversation("decline", status=ConversationStatus.OFFERED)
    offers = {}
    for item in (offered, to_decline):
        offers[item.pk] = Offer.objects.create(
            conversation=item, operator=operator, created_at=now, expires_at=now + timedelta(hours=1)
        )
    to_take = conversation("take", status=ConversationStatus.QUEUED, queued_at=now)  # waiting in the queue
    rated = conversation("rated", status=ConversationStatus.CLOSED, operator=operator, closed_at=now)
    ClientRating.objects.create(conversation=rated, operator=operator, value="like", rated_at=now)
    SupervisorRating.objects.create(
        conversation=rated, operator=operator, supervisor=supervisor, score=4, comment=f"{word} rating", created_at=now
    )
    contact = Contact.objects.create(full_name=f"{word} contact", email=f"{word.lower()}@example.com")
    held.client.contact = contact
    held.client.unverified_email = f"{word.lower()}-visitor@example.com"  # typed in the widget, not confirmed yet
    held.client.save(update_fields=["contact", "unverified_email"])
    lead = Lead.objects.create(title=f"{word} lead", contact=contact, full_name=f"{word} lead", open_channel=channel)
    form = ConsentForm.objects.create(name=f"{word} notice", text=f"{word} privacy notice")
    ConsentRecord.objects.create(
        client=held.client, form_version=form.current_version, source="livechat", accepted_at=now
    )
    Holiday.objects.create(open_channel=channel, date=now.date() + timedelta(days=30), name=f"{word} holiday")
    audit_record(
        actor=supervisor,
        action=AuditAction.TRANSCRIPT_OPENED,
        now=now,
        open_channel_id=channel.pk,
        client_id=held.client_id,
        conversation_id=held.pk,
    )
    LeavePeriod.objects.create(
        operator=colleague, starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2), reason=f"{word} leave"
    )
    InboundUpdate.objects.create(
        connector=telegram, update_id=f"{word}-1", payload={"text": f"{word} update"}, received_at=now
    )
    return SimpleNamespace(
        channel=channel,
        operator=operator,
        colleague=colleague,
        supervisor=supervisor,
        livechat=livechat,
        telegram=telegram,
        held=held,
        whatsapp_held=whatsapp_held,
        template=template,
        photo=photo_row,
        to_transfer=to_transfer,
        to_close=to_close,
        offered=offered,
        offer=offers[offered.pk],
        decline_offer=offers[to_decline.pk],
        to_take=to_take,
        lead=lead,
        contact=contact,
        token=visitor_token_issue(connector=livechat, visitor_id=held.client.external_id),
        # A fresh conversation held by the team's operator, for a supervisor's action that changes it.
        new_held=lambda: conversation(
            f"extra-{next(_extra_numbers)}", status=ConversationStatus.ACTIVE, operator=operator, assigned_at=now
        ),
        confirmation=confirmation_token_issue(client_id=held.client.pk, email=held.client.unverified_email),
        undelivered=undelivered,
    )


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (24, 16), (10, 90, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture(autouse=True)
def stored_files_are_this_tests(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def teams(transactional_db):
    now = timezone.now()
    administrator = UserFactory(username="ada", first_name="Ada")
    administrator.groups.add(Group.objects.get(name="Administrators"))
    world = SimpleNamespace(a=_team("a", "North", now), b=_team("b", "South", now), administrator=administrator)
    world.people = {
        "anonymous": None,
        "operator_a": world.a.operator,
        "operator_b": world.b.operator,
        "supervisor_a": world.a.supervisor,
        "supervisor_b": world.b.supervisor,
        "administrator": administrator,
    }
    return world


def _client(world, persona: str) -> HttpClient:
    client = HttpClient()
    if world.people[persona] is not None:
        client.force_login(world.people[persona])
    return client


# --- rules for the routes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    data: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """How to ask a route about team ``t``'s object, and what each person must get back."""

    request: Callable[[SimpleNamespace, str], Request]
    expected: Callable[[str, str | None], int]  # (person, team of the object, None when it has none) → status
    per_team: bool = True  # False: the route is about nobody's object; asked once per person


def console_users(own: int, other: int = 404) -> Callable[[str, str | None], int]:
    """Console API: operators and supervisors, each in their own team (supervisors answer there what they take
    over); administrators in both; nobody signed in is refused (403, as DRF answers)."""

    def expected(persona: str, team: str | None) -> int:
        if persona == "anonymous":
            return 403
        if persona == "administrator":
            return own
        return own if team in (None, team_of(persona)) else other

    return expected


def holder_only(own: int) -> Callable[[str, str | None], int]:
    """Sending in a conversation: its operator only; a supervisor or administrator who may read it is refused (403)
    until they take it over; the other team does not see it (404)."""

    def expected(persona: str, team: str | None) -> int:
        if persona == "anonymous":
            return 403
        if persona != "administrator" and team_of(persona) != team:
            return 404
        return own if persona.startswith("operator_") else 403

    return expected


def file_door(own: int) -> Callable[[str, str | None], int]:
    """A file opens to whoever may read its conversation; anybody else, signed in or not, gets 404."""

    def expected(persona: str, team: str | None) -> int:
        return 404 if persona == "anonymous" else console_users(own)(persona, team)

    return expected


def supervisors_only(own: int, other: int = 404) -> Callable[[str, str | None], int]:
    """KPI pages: supervisors of the team and administrators; operators have no KPI permission."""

    def expected(persona: str, team: str | None) -> int:
        if persona == "anonymous":
            return 302
        if persona.startswith("operator_"):
            return 403
        if persona == "administrator":
            return own
        return own if team in (None, team_of(persona)) else other

    return expected


def supervisor_api(own: int) -> Callable[[str, str | None], int]:
    """The supervisor's actions (REST): like the KPI pages, but DRF answers 403 to nobody signed in."""

    def expected(persona: str, team: str | None) -> int:
        return 403 if persona == "anonymous" else supervisors_only(own)(persona, team)

    return expected


def supervisor_action(name: str, data: dict | None = None) -> Callable:
    return lambda world, team: Request("POST", reverse(name, args=[getattr(world, team).new_held().pk]), data or {})


def everyone(status: int) -> Callable[[str, str | None], int]:
    return lambda persona, team: status


def conversation(name: str, method: str = "GET", data: dict | None = None) -> Callable:
    return lambda world, team: Request(method, reverse(name, args=[getattr(world, team).held.pk]), data or {})


def file_of(name: str) -> Callable:
    return lambda world, team: Request("GET", reverse(name, args=[getattr(world, team).photo.public_id]))


def upload(name: str) -> Callable:
    """A multipart upload to the team's held conversation (a fresh file for every request)."""
    return lambda world, team: Request(
        "POST",
        reverse(name, args=[getattr(world, team).held.pk]),
        {"file": SimpleUploadedFile("matrix.pdf", b"%PDF-1.4 matrix", "application/pdf")},
    )


def plain(name: str, method: str = "GET", data: dict | None = None) -> Callable:
    return lambda world, team: Request(method, reverse(name), data or {})


def webhook(provider: str) -> Callable:
    return lambda world, team: Request("POST", reverse(f"webhook-{provider}", args=[getattr(world, team).telegram.pk]))


def bot(name: str, data: dict) -> Callable:
    return lambda world, team: Request("POST", reverse(name, args=[getattr(world, team).held.pk]), data)


def livechat(name: str, method: str = "GET", data: dict | None = None) -> Callable:
    return lambda world, team: Request(method, reverse(name, args=[getattr(world, team).token]), data or {})


def signed_in(status: int) -> Callable[[str, str | None], int]:
    """Anybody signed in, about their own rows only (DRF answers 403 to nobody signed in)."""
    return lambda persona, team: 403 if persona == "anonymous" else status


def notification_of_operator(name: str) -> Callable:
    """A fresh unread notification of the team's operator about the team's held conversation."""

    def request(world, team: str) -> Request:
        side = getattr(world, team)
        notification = Notification.objects.create(
            recipient=side.operator, kind="mention", conversation=side.held, text=f"{MARKER[team]} mention",
            created_at=timezone.now(),
        )  # fmt: skip
        return Request("POST", reverse(name, args=[notification.pk]))

    return request


def own_notification(status: int) -> Callable[[str, str | None], int]:
    """Only its recipient marks it read; for anybody else, an administrator too, it does not exist."""

    def expected(persona: str, team: str | None) -> int:
        if persona == "anonymous":
            return 403
        return status if persona == f"operator_{team}" else 404

    return expected


def administrators_only(status: int) -> Callable[[str, str | None], int]:
    """Issue 19: personal data of anybody, for administrators alone; DRF answers 403 to nobody signed in."""
    return lambda persona, team: status if persona == "administrator" else 403


def data_export(name: str) -> Callable:
    """A ready export of the team's held client, its archive in storage (issue 19)."""

    def request(world, team: str) -> Request:
        client_id = getattr(world, team).held.client_id
        stored = default_storage.save("exports/matrix.zip", ContentFile(f"{MARKER[team]} archive".encode()))
        now = timezone.now()
        export = DataExport.objects.create(
            client_id=client_id, status=DataExport.Status.READY, progress=100, file=stored, created_at=now,
            finished_at=now, expires_at=now + timedelta(hours=1),
        )  # fmt: skip
        return Request("GET", reverse(name, args=[export.public_id]))

    return request


RULES: dict[str, Rule] = {
    # The operator console: its page and REST API, for operators and supervisors, each in their own team.
    "console": Rule(plain("console"), lambda persona, team: 302 if persona == "anonymous" else 200, per_team=False),
    # The language is kept on the operator profile, which a supervisor gets when their console first connects.
    "console-language": Rule(
        plain("console-language", "POST", {"language": "en"}),
        lambda persona, team: 302 if persona == "anonymous" or persona.startswith("operator_") else 403,
        per_team=False,
    ),
    "console-logout": Rule(plain("console-logout", "POST"), everyone(302), per_team=False),
    "api-console-state": Rule(plain("api-console-state"), console_users(200), per_team=False),
    "api-console-conversations": Rule(plain("api-console-conversations"), console_users(200), per_team=False),
    "api-console-status": Rule(
        plain("api-console-status", "POST", {"action": "clock_in"}), console_users(200), per_team=False
    ),
    "api-conversation": Rule(conversation("api-conversation"), console_users(200)),
    "api-conversation-messages": Rule(conversation("api-conversation-messages"), console_users(200)),
    "api-conversation-transfer-targets": Rule(conversation("api-conversation-transfer-targets"), console_users(200)),
    "api-conversation-files": Rule(upload("api-conversation-files"), holder_only(201)),
    # The one door files go out through (visitors' signed links: tests/security/test_authorization.py).
    "attachment-file": Rule(file_of("attachment-file"), file_door(200)),
    "attachment-thumbnail": Rule(file_of("attachment-thumbnail"), file_door(200)),
    # A live-chat visitor left no phone or e-mail: the lead is refused (409) to the team's own operator.
    "api-conversation-lead": Rule(conversation("api-conversation-lead", "POST"), console_users(409)),
    # Supervisor pages: the team's supervisor and administrators.
    "kpi:overview": Rule(plain("kpi:overview"), supervisors_only(200), per_team=False),
    "kpi:export": Rule(plain("kpi:export"), supervisors_only(200), per_team=False),
    "kpi:conversations": Rule(plain("kpi:conversations"), supervisors_only(200), per_team=False),
    "kpi:conversation": Rule(conversation("kpi:conversation"), supervisors_only(200)),
    "kpi:wallboard": Rule(plain("kpi:wallboard"), supervisors_only(200), per_team=False),
    # The supervisor's actions, each on a fresh conversation of the team: its supervisor and administrators.
    "supervisor-api:take-over": Rule(supervisor_action("supervisor-api:take-over"), supervisor_api(200)),
    "supervisor-api:reassign": Rule(
        supervisor_action("supervisor-api:reassign", {"to_queue": True}), supervisor_api(200)
    ),
    "supervisor-api:close": Rule(supervisor_action("supervisor-api:close"), supervisor_api(200)),
    "supervisor-api:notes": Rule(
        supervisor_action("supervisor-api:notes", {"text": "matrix note"}), supervisor_api(201)
    ),
    # A visitor's signed token is the credential: whoever holds it reads that visitor's chat, and only it.
    "api-livechat-state": Rule(livechat("api-livechat-state"), everyone(200)),
    # The link mailed to a visitor's address is the credential; the page confirms only on POST.
    "livechat-email-confirm": Rule(
        lambda world, team: Request("GET", reverse("livechat-email-confirm", args=[getattr(world, team).confirmation])),
        everyone(200),
    ),
    "api-livechat-transcript": Rule(
        livechat("api-livechat-transcript", "POST", {"email": "visitor@example.com"}), everyone(202)
    ),
    # A file the visitor sends goes into that visitor's own conversation, whoever's browser holds the token.
    "api-livechat-files": Rule(
        lambda world, team: Request(
            "POST",
            reverse("api-livechat-files", args=[getattr(world, team).token]),
            {"file": SimpleUploadedFile("matrix.pdf", b"%PDF-1.4 matrix", "application/pdf")},
        ),
        everyone(201),
    ),
    # A provider's signature or a chatbot's token is the credential: a session is never one.
    "webhook-telegram": Rule(webhook("telegram"), everyone(403)),
    "webhook-meta": Rule(webhook("meta"), everyone(403)),
    "webhook-zalo": Rule(webhook("zalo"), everyone(403)),
    "bot-api-messages": Rule(bot("bot-api-messages", {"text": "hijack"}), everyone(401)),
    "bot-api-handover": Rule(bot("bot-api-handover", {"reason": "hijack"}), everyone(401)),
    # Prometheus: METRICS_TOKEN or METRICS_ALLOWED_NETWORKS (none set here: closed), never a session, not even an
    # administrator's (tests/test_metrics.py checks the token and the networks).
    "metrics": Rule(plain("metrics"), everyone(403), per_team=False),
    # The widget's forms (issue 15): the visitor's token is the credential, as for the neighbours; the teams'
    # channels have no forms, so every valid token is refused with 409 and nothing is stored
    # (tests/channels_app/livechat/test_widget_forms.py covers the forms switched on).
    "api-livechat-details": Rule(livechat("api-livechat-details", "POST", {"name": "Matrix"}), everyone(409)),
    "api-livechat-offline": Rule(
        livechat("api-livechat-offline", "POST", {"email": "matrix@example.com", "message": "Matrix"}), everyone(409)
    ),
    # History and search (issue 15): each person searches what they may see (tests/security/test_authorization.py
    # checks nothing of another team comes back); the timeline is one conversation's client's.
    "api-console-history": Rule(plain("api-console-history"), console_users(200), per_team=False),
    "api-console-history-filters": Rule(plain("api-console-history-filters"), console_users(200), per_team=False),
    "api-conversation-timeline": Rule(conversation("api-conversation-timeline"), console_users(200)),
    # Issue 15: a private note and whom it may mention, in the conversations the person may read.
    "api-conversation-notes": Rule(
        conversation("api-conversation-notes", "POST", {"text": "matrix note"}), console_users(201)
    ),
    "api-conversation-mention-candidates": Rule(
        conversation("api-conversation-mention-candidates"), console_users(200)
    ),
    # Notifications are the signed-in person's own, whatever their role; one of the team's operator's is theirs only.
    "api-notifications": Rule(plain("api-notifications"), signed_in(200), per_team=False),
    "api-notifications-read-all": Rule(plain("api-notifications-read-all", "POST"), signed_in(200), per_team=False),
    "api-notification-read": Rule(notification_of_operator("api-notification-read"), own_notification(200)),
    "kpi:notifications": Rule(plain("kpi:notifications"), supervisors_only(200), per_team=False),
    # Issue 19: a client's data export, administrators only (a supervisor of the client's own team too is refused).
    "api-privacy-exports": Rule(
        lambda world, team: Request(
            "POST", reverse("api-privacy-exports"), {"client": getattr(world, team).held.client_id}
        ),
        administrators_only(202),
    ),
    "api-privacy-export": Rule(data_export("api-privacy-export"), administrators_only(200)),
    "privacy-export-download": Rule(
        data_export("privacy-export-download"),
        lambda persona, team: 302 if persona == "anonymous" else administrators_only(200)(persona, team),
    ),
    # Issue 19: erasure is the administrators' alone, on any team's client; the held client's conversation is open,
    # so even the administrator is refused (409) and nothing changes (tests/channels_app/privacy: the 200s).
    "api-privacy-client-erase": Rule(
        lambda world, team: Request(
            "POST", reverse("api-privacy-client-erase", args=[getattr(world, team).held.client_id])
        ),
        lambda persona, team: 409 if persona == "administrator" else 403,
    ),
    "api-privacy-contact-erase": Rule(
        lambda world, team: Request(
            "POST", reverse("api-privacy-contact-erase", args=[getattr(world, team).contact.pk])
        ),
        lambda persona, team: 409 if persona == "administrator" else 403,
    ),
    # Issue 19: the visitor withdraws their own consent with their token; an operator records it for the client of
    # a conversation they may see; the audit log is administrators' only (it records what supervisors do).
    "api-livechat-consent-withdraw": Rule(livechat("api-livechat-consent-withdraw", "POST"), everyone(200)),
    "api-conversation-consent-withdraw": Rule(
        conversation("api-conversation-consent-withdraw", "POST"), console_users(200)
    ),
    "api-privacy-audit": Rule(
        plain("api-privacy-audit"), lambda persona, team: 200 if persona == "administrator" else 403, per_team=False
    ),
}

# Public on purpose: nothing behind them belongs to a team (widget pages are keyed by a public widget key).
PUBLIC = {
    "healthz",
    "readyz",
    "api-schema",
    "api-docs",
    "console-login",
    "console-jsi18n",
    "set_language",
    "livechat-frame",
    "livechat-demo",
    "consent-form-version",  # A1: the notice every client of the channel is sent, by its version id
}


def _routes() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # test_admin_model
                walk(pattern.url_patterns, f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(namespace + pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_route_has_a_rule():
    routes = _routes()
    assert routes - set(RULES) - PUBLIC == set(), "add a rule for every new route to tests/security/test_matrix.py"
    assert (set(RULES) | PUBLIC) - routes == set(), "rules for routes that no longer exist"


def _send(client: HttpClient, request: Request):
    if request.method == "GET":
        return client.get(request.path, headers=request.headers)
    if any(isinstance(value, File) for value in request.data.values()):
        return client.post(request.path, request.data, headers=request.headers)  # multipart: an upload
    if request.path.startswith(("/api/", "/webhooks/")):
        body = json.dumps(request.data)
        return client.generic(request.method, request.path, body, content_type="application/json", **{})
    return client.post(request.path, request.data, headers=request.headers)


def _leaks(persona: str, body: str) -> bool:
    """Does a team member's answer show the other team's data?"""
    team = team_of(persona)
    return team is not None and MARKER[OTHER[team]] in body


@pytest.mark.parametrize("route", sorted(RULES))
def test_route(teams, route, settings):
    # Twelve requests on one visitor's token: the matrix is about who, not how often (tests/channels_app/livechat).
    settings.RATE_LIMITS = {name: {"capacity": 100, "refill_per_second": 100} for name in RATE_LIMIT_NAMES}
    rule = RULES[route]
    for persona in PERSONAS:
        for team in TEAMS if rule.per_team else ("a",):
            request = rule.request(teams, team)
            before = fingerprint()
            response = _send(_client(teams, persona), request)
            expected = rule.expected(persona, team if rule.per_team else None)
            where = f"{route}: {persona} about team {team}"
            assert response.status_code == expected, f"{where}: {response.status_code}, expected {expected}"
            if expected >= 400 or (expected == 302 and persona == "anonymous"):
                assert fingerprint() == before, f"{where}: a refused request changed data"
            raw = b"".join(response.streaming_content) if response.streaming else response.content
            body = raw.decode(errors="replace")
            if not route.startswith(("api-livechat", "livechat-")):
                assert not _leaks(persona, body), f"{where}: shows the other team's data"
            elif response.status_code < 400:
                # A visitor's token shows that visitor's own team only.
                assert MARKER[OTHER[team]] not in body, f"{where}: the widget shows another team's chat"


# --- the admin ----------------------------------------------------------------------------------------------

# Every registered model: the path from a row to its open channel, or None for what no team owns (forms, lists
# and bots every channel may use, users, schedules…), which only permissions decide.
ADMIN_SCOPES: dict[str, tuple[str, ...] | None] = {
    "channels_app.openchannel": ("pk",),
    "channels_app.connector": ("open_channel",),
    "channels_app.inboundupdate": ("connector__open_channel",),
    "channels_app.conversation": ("open_channel",),
    "channels_app.client": ("connector__open_channel",),
    "channels_app.clientrating": ("conversation__open_channel",),
    "channels_app.consentrecord": ("client__connector__open_channel",),
    "channels_app.holiday": ("open_channel",),
    "channels_app.operatorprofile": ("user__queue_memberships__open_channel",),
    "channels_app.leaveperiod": ("operator__queue_memberships__open_channel",),
    "crm.lead": ("open_channel",),
    "crm.contact": ("clients__connector__open_channel", "leads__open_channel"),
    "kpi.responserecord": ("open_channel",),
    "kpi.kpimiss": ("open_channel",),
    "kpi.supervisorrating": ("conversation__open_channel",),
    # Administrators only, whatever the channel (supervisors get 403: the log records what they do).
    "channels_app.auditevent": ("open_channel",),
}


def _registered() -> dict[str, type]:
    return {f"{model._meta.app_label}.{model._meta.model_name}": model for model in admin.site._registry}


def _global_models() -> set[str]:
    return {label for label in _registered() if label not in ADMIN_SCOPES}


def test_every_admin_model_is_scoped_or_knowingly_global():
    registered = set(_registered())
    scoped = set(ADMIN_SCOPES)
    assert scoped <= registered, f"scopes for models no longer in the admin: {sorted(scoped - registered)}"
    # A model with a foreign key to an open channel, a conversation or a client belongs to a team: it must be scoped.
    team_owned = {
        label
        for label, model in _registered().items()
        if any(
            getattr(f, "related_model", None) is not None
            and f.related_model._meta.label_lower in {"channels_app.openchannel", "channels_app.conversation"}
            for f in model._meta.get_fields()
            if f.concrete
        )
    }
    assert team_owned <= scoped, f"team data shown to every admin user: {sorted(team_owned - scoped)}"


def _admin_url(model, action: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


@pytest.mark.parametrize("label", sorted(_registered()))
def test_admin_model(teams, label):
    model = _registered()[label]
    model_admin = admin.site._registry[model]
    changelist = _admin_url(model, "changelist")
    paths = ADMIN_SCOPES.get(label)
    rows = {}
    if paths is not None:
        for team in TEAMS:
            channel = getattr(teams, team).channel
            lookup = {f"{paths[0]}": channel.pk} if paths[0] != "pk" else {"pk": channel.pk}
            rows[team] = model._default_manager.filter(**lookup).order_by("pk").first()
            assert rows[team] is not None, f"the teams have no {label} row to check"
    for persona in PERSONAS:
        client = _client(teams, persona)
        response = client.get(changelist)
        user = teams.people[persona]
        if user is None or not access.uses_admin(user):
            # Operators do not use the admin (the console is their tool): it opens by role, never by is_staff.
            assert response.status_code == 302 and "/login/" in response["Location"], f"{label}: {persona}"
            continue
        request = SimpleNamespace(user=user)
        if not model_admin.has_view_or_change_permission(request):
            assert response.status_code == 403, f"{label}: {persona} reached the list without the permission"
            continue
        assert response.status_code == 200, f"{label}: {persona} got {response.status_code}"
        body = response.content.decode()
        assert not _leaks(persona, body), f"{label}: the list shows {persona} the other team's rows"
        for team, row in rows.items():
            page = client.get(_admin_url(model, "change", row.pk))
            may = persona == "administrator" or team_of(persona) == team
            if may:
                assert page.status_code == 200, f"{label}: {persona} cannot open their own team's row"
            else:
                # The admin answers a row outside one's queryset as missing: back to the index, with a message.
                assert page.status_code == 302, f"{label}: {persona} opened the other team's row"


# --- the console socket ---------------------------------------------------------------------------------------


def _frame(world, team: str, action: str) -> dict:
    side = getattr(world, team)
    return {
        "heartbeat": {"active": True},
        "accept": {"offer_id": side.offer.pk},
        "decline": {"offer_id": side.decline_offer.pk},
        "send": {"conversation_id": side.held.pk, "text": "matrix reply"},
        "send_template": {
            "conversation_id": side.whatsapp_held.pk,
            "template_id": side.template.pk,
            "parameters": ["matrix"],
        },
        "close": {"conversation_id": side.to_close.pk},
        "transfer": {"conversation_id": side.to_transfer.pk, "to_operator_id": side.colleague.pk},
        "typing": {"conversation_id": side.held.pk},
        "watch": {"conversation_id": side.held.pk},
        "take": {"conversation_id": side.to_take.pk},
        "retry": {"message_id": side.undelivered.pk},
    }[action]


SOCKET_ACTIONS = {
    "heartbeat", "accept", "decline", "send", "send_template", "close", "transfer", "typing", "watch", "retry",
    "take",
}  # fmt: skip


def test_every_console_socket_action_has_a_rule():
    assert set(ConsoleConsumer.actions) == SOCKET_ACTIONS


async def _answer(console: WebsocketCommunicator, ref: int) -> dict:
    while True:
        frame = await console.receive_json_from(timeout=10)
        if frame.get("ref") == ref:
            return frame


async def test_console_socket_actions(teams, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    for persona in PERSONAS:
        console = await console_communicator(teams.people[persona])
        connected, _code = await console.connect()
        if persona == "anonymous":
            assert not connected, "anonymous opened a console socket"
            await console.disconnect()
            continue
        assert connected
        if not persona.startswith("operator_"):
            await _supervisor_console(console, teams, persona)
            continue
        own, other = team_of(persona), OTHER[team_of(persona)]
        # The other team's objects first: every action is refused and changes nothing.
        ref = await _every_action_refused(console, teams, persona, other, ref=0)
        # Their own team's: every action goes through.
        for action in (
            "heartbeat",
            "watch",
            "typing",
            "send",
            "send_template",
            "accept",
            "decline",
            "transfer",
            "close",
            "take",
            "retry",
        ):
            ref += 1
            await console.send_json_to({"action": action, "ref": ref, **_frame(teams, own, action)})
            answer = await _answer(console, ref)
            assert answer["type"] == "ack", f"{persona} {action} on team {own}: {answer}"
        # Nothing of the other team reached this socket meanwhile.
        while not await console.receive_nothing(timeout=0.3):
            frame = await console.receive_json_from()
            assert MARKER[other] not in json.dumps(frame), f"{persona} received {frame}"
        await console.disconnect()


async def _every_action_refused(console: WebsocketCommunicator, teams, persona: str, team: str, *, ref: int) -> int:
    """Every console action on ``team``'s objects is refused and changes nothing; returns the last ref used."""
    for action in sorted(SOCKET_ACTIONS - {"heartbeat"}):
        ref += 1
        before = await database_sync_to_async(fingerprint)()
        await console.send_json_to({"action": action, "ref": ref, **_frame(teams, team, action)})
        answer = await _answer(console, ref)
        assert answer["type"] == "error", f"{persona} {action} on team {team}: {answer}"
        assert await database_sync_to_async(fingerprint)() == before, f"{persona} {action} changed data"
    return ref


async def _supervisor_console(console: WebsocketCommunicator, teams, persona: str) -> None:
    """Supervisors (and administrators) open the console to answer what they take over: on a team they do not
    supervise every action is refused; on their own they may watch, close and transfer, not accept another's
    offer or write in a conversation someone else holds."""
    own = team_of(persona) or "a"  # an administrator supervises both teams
    ref = 100
    if persona != "administrator":
        ref = await _every_action_refused(console, teams, persona, OTHER[own], ref=ref)
    for action, allowed in (
        ("heartbeat", True), ("watch", True), ("typing", True), ("accept", False), ("decline", False),
        ("send", False), ("send_template", False), ("transfer", True), ("close", True), ("retry", False),
        ("take", False),  # not in the queue: a supervisor takes over (REST), they do not take from the queue
    ):  # fmt: skip
        ref += 1
        frame = _frame(teams, own, action)
        if action in ("transfer", "close"):
            # The team's operator acted on the prepared conversations already: a fresh one, still held by them.
            fresh = await database_sync_to_async(getattr(teams, own).new_held)()
            frame = {**frame, "conversation_id": fresh.pk}
        await console.send_json_to({"action": action, "ref": ref, **frame})
        answer = await _answer(console, ref)
        assert answer["type"] == ("ack" if allowed else "error"), f"{persona} {action} on team {own}: {answer}"
    if persona != "administrator":
        while not await console.receive_nothing(timeout=0.3):
            frame = await console.receive_json_from()
            assert MARKER[OTHER[own]] not in json.dumps(frame), f"{persona} received {frame}"
    await console.disconnect()


# --- issue 20: the connector page's buttons (POST, scoped like the connector's own page) ------------------------


@pytest.mark.parametrize("action", ["test_connection", "register_webhook"])
def test_admin_connector_buttons(teams, action, settings):
    """*Test connection* and *Register webhook*: whoever may change the team's connector; the other team's is
    missing (404); without the right to change it, 403; a GET is 405; operators never reach the admin."""
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # nothing listens: the provider is "down", never a 500
    model_admin = admin.site._registry[teams.a.telegram.__class__]
    for persona in PERSONAS:
        user = teams.people[persona]
        for team in TEAMS:
            connector = getattr(teams, team).telegram
            url = reverse(f"admin:channels_app_connector_{action}", args=[connector.pk])
            client = _client(teams, persona)
            before = fingerprint()
            response = client.post(url)
            where = f"{action}: {persona} about team {team}"
            if user is None or not access.uses_admin(user):
                assert response.status_code == 302 and "/login/" in response["Location"], where
                assert fingerprint() == before, where
                continue
            if persona != "administrator" and team_of(persona) != team:
                expected = 404
            elif not model_admin.has_change_permission(SimpleNamespace(user=user), connector):
                expected = 403
            else:
                expected = 302
            assert response.status_code == expected, f"{where}: {response.status_code}, expected {expected}"
            if expected != 302:
                assert fingerprint() == before, f"{where}: a refused request changed data"
            assert client.get(url).status_code == 405, where

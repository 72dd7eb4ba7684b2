"""Issue 13: an external bot's URL never leads to this machine or a private network (B1 bots, outbound calls).

Checked when the chatbot is saved (from the URL alone) and again before every event (the name resolved, every
address checked, the connection pinned to the checked address); refused sends fail the turn, which hands the
conversation over with the reason. Nothing here reaches the internet: names are resolved by a stand-in resolver.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.exceptions import ValidationError

from channels_app.bots import outbound
from channels_app.bots.base import BotFailure
from channels_app.models import Chatbot, ConversationStatus, StatusChange
from tests.channels_app.bots.support import FakeBotServer, bot_channel, bot_turns, make_chatbot, run_turns
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_operator
from tests.factories import UserFactory

__all__ = ["bot_turns"]  # the fixture, imported for pytest

pytestmark = pytest.mark.django_db

# A URL host per class of address that is refused, as an administrator might type it.
REFUSED_URLS = [
    ("http://127.0.0.1/bot", "a loopback address"),
    ("http://127.8.9.10:8080/bot", "a loopback address"),
    ("http://[::1]/bot", "a loopback address"),
    ("http://localhost:8000/bot", "a loopback address"),
    ("http://10.1.2.3/bot", "a private address"),
    ("http://172.16.5.4/bot", "a private address"),
    ("https://192.168.1.20/bot", "a private address"),
    ("http://[fd00::1]/bot", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://[fe80::1]/bot", "a link-local address"),
    ("http://224.0.0.1/bot", "a multicast address"),
    ("http://[ff02::1]/bot", "a multicast address"),
    ("http://240.0.0.1/bot", "a reserved address"),
    ("http://0.0.0.0/bot", "an unspecified address"),
    ("http://[::]/bot", "an unspecified address"),
    ("http://[::ffff:127.0.0.1]/bot", "a loopback address"),
    ("http://[::ffff:10.0.0.1]/bot", "a private address"),
    ("http://[::ffff:169.254.169.254]/bot", "a link-local address"),
    ("http://100.64.0.1/bot", "not a public address"),
]


@pytest.fixture(autouse=True)
def nothing_allowed(settings):
    """This module's own rule: no host is listed (the other chatbot tests list 127.0.0.1, see conftest.py)."""
    settings.CHATBOT_ALLOWED_HOSTS = []


@pytest.fixture
def resolver(monkeypatch):
    """Names resolve to what the test says, counted; every other lookup goes to the real resolver."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [
            (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.fixture
def sent(monkeypatch):
    """Every request the bot client sends (none must leave for a refused address)."""
    requests: list[httpx.Request] = []
    real_send = httpx.Client.send

    def send(client, request, **kwargs):
        requests.append(request)
        return real_send(client, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", send)
    return requests


def external_bot(url: str) -> Chatbot:
    # objects.create skips clean(): the URL was stored before this check existed, or written by a script.
    return make_chatbot(Chatbot.Kind.EXTERNAL, name="Helpdesk AI", endpoint_url=url, timeout_seconds=2)


def handover_reason(conversation) -> str:
    return StatusChange.objects.get(conversation=conversation, to_status="queued").reason


# --- when the chatbot is saved ----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_every_class_of_private_address_is_refused_when_the_chatbot_is_saved(url, reason):
    chatbot = Chatbot(name="Helpdesk AI", kind=Chatbot.Kind.EXTERNAL, endpoint_url=url)
    with pytest.raises(ValidationError) as refused:
        chatbot.full_clean()
    [message] = refused.value.message_dict["endpoint_url"]
    assert "is not a public address" in message and "CHATBOT_ALLOWED_HOSTS" in message


@pytest.mark.parametrize("url", ["https://bot.example.com/events", "https://93.184.215.14/events"])
def test_a_public_address_or_a_name_may_be_saved(url):
    Chatbot(name="Helpdesk AI", kind=Chatbot.Kind.EXTERNAL, endpoint_url=url).full_clean()


def test_a_listed_host_may_be_saved_although_it_is_private(settings):
    settings.CHATBOT_ALLOWED_HOSTS = ["10.0.0.7", "localhost"]
    for url in ("http://10.0.0.7:9000/bot", "http://localhost/bot"):
        Chatbot(name="Helpdesk AI", kind=Chatbot.Kind.EXTERNAL, endpoint_url=url).full_clean()
    with pytest.raises(ValidationError):
        Chatbot(name="Helpdesk AI", kind=Chatbot.Kind.EXTERNAL, endpoint_url="http://10.0.0.8/bot").full_clean()


def test_the_admin_says_why_a_private_bot_url_is_refused(client):
    client.force_login(UserFactory(username="ada", is_superuser=True))
    response = client.post(
        "/admin/channels_app/chatbot/add/",
        {
            "name": "Helpdesk AI",
            "kind": "external",
            "is_active": "on",
            "supports_open_channels": "on",
            "handover_keywords": "operator",
            "max_unmatched": 2,
            "handover_text": "Connecting you to an operator.",
            "endpoint_url": "http://169.254.169.254/latest/meta-data/",
            "timeout_seconds": 10,
            "rules-TOTAL_FORMS": 0,
            "rules-INITIAL_FORMS": 0,
            "rules-MIN_NUM_FORMS": 0,
            "rules-MAX_NUM_FORMS": 1000,
        },
    )
    assert response.status_code == 200
    assert "“169.254.169.254” is not a public address" in response.content.decode()
    assert not Chatbot.objects.exists()


# --- when an event is sent -----------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
def test_every_class_of_private_address_is_refused_when_an_event_is_sent(engine, bot_turns, sent, url, reason):
    channel = bot_channel(external_bot(url), [make_operator("olga")])
    conversation = engine.receive(channel, text="hello")
    assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert handover_reason(conversation).startswith("chatbot handed over: failed: refused to call ")
    assert reason in handover_reason(conversation)
    assert sent == []


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["169.254.169.254"], ["::ffff:127.0.0.1"], ["93.184.215.14", "192.168.0.10"]],
    ids=["private", "link-local", "mapped-loopback", "one-private-of-two"],
)
def test_a_name_resolving_to_a_private_address_is_refused_when_an_event_is_sent(
    engine, bot_turns, resolver, sent, addresses
):
    answers, _lookups = resolver
    answers["bot.example.com"] = addresses
    channel = bot_channel(external_bot("https://bot.example.com/events"), [make_operator("olga")])
    conversation = engine.receive(channel, text="hello")
    assert run_turns(engine, bot_turns) == ["handed_over"]
    private = addresses[-1]
    assert handover_reason(conversation).startswith(
        f"chatbot handed over: failed: refused to call bot.example.com: it resolves to {private} ("
    )
    assert sent == []


def test_a_public_address_passes_and_the_request_is_pinned_to_it(resolver):
    answers, lookups = resolver
    answers["bot.example.com"] = ["93.184.215.14", "2606:2800:220:1:248:1893:25c8:1946"]
    destination = outbound.checked_destination("https://bot.example.com:8443/events?x=1", allowed_hosts=[])
    assert str(destination.url) == "https://93.184.215.14:8443/events?x=1"
    # HTTP and TLS still speak to bot.example.com: its Host header, its server name and certificate.
    assert destination.headers == {"Host": "bot.example.com:8443"}
    assert destination.extensions == {"sni_hostname": "bot.example.com"}
    assert lookups == ["bot.example.com"]

    literal = outbound.checked_destination("http://93.184.215.14/events", allowed_hosts=[])
    assert (str(literal.url), literal.extensions) == ("http://93.184.215.14/events", {})


def test_a_name_that_does_not_resolve_fails_the_turn_with_the_reason(monkeypatch):
    def no_such_name(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with pytest.raises(BotFailure, match=r"could not resolve the bot's host no-such-host\.example"):
        outbound.checked_destination("http://no-such-host.example/bot", allowed_hosts=[])


@pytest.mark.parametrize("url", ["ftp://bot.example.com/x", "file:///etc/passwd", "http:///no-host"])
def test_only_http_and_https_urls_are_called(url):
    with pytest.raises(BotFailure):
        outbound.checked_destination(url, allowed_hosts=[])


def test_the_name_is_resolved_once_and_the_event_goes_to_the_address_that_was_checked(
    engine, bot_turns, resolver, monkeypatch
):
    """DNS rebinding: a second lookup could answer a private address; there is no second lookup. The local
    server stands in for a public bot (its 127.0.0.1 counts as public in this test only)."""
    answers, lookups = resolver
    real_refusal = outbound.address_refusal
    monkeypatch.setattr(outbound, "address_refusal", lambda a: None if str(a) == "127.0.0.1" else real_refusal(a))
    with FakeBotServer(lambda event: (200, {"texts": ["Hello from the bot"]})) as server:
        port = server.url.split(":")[2].split("/")[0]
        answers["bot.example.com"] = ["127.0.0.1"]
        channel = bot_channel(external_bot(f"http://bot.example.com:{port}/bot/events"), [make_operator("olga")])
        conversation = engine.receive(channel, text="hello")
        assert run_turns(engine, bot_turns) == ["answered"]
    assert lookups == ["bot.example.com"]
    [received] = server.received
    assert received.headers["Host"] == f"bot.example.com:{port}"
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT


def test_a_listed_host_is_called_as_written(engine, bot_turns, settings):
    with FakeBotServer(lambda event: (200, {"texts": ["Hi"]})) as server:
        settings.CHATBOT_ALLOWED_HOSTS = ["127.0.0.1"]
        channel = bot_channel(external_bot(server.url), [make_operator("olga")])
        engine.receive(channel, text="hello")
        assert run_turns(engine, bot_turns) == ["answered"]
    assert len(server.received) == 1


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(307)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_redirect_is_never_followed(engine, bot_turns, settings):
    """The bot answers 307 to another address: nothing is sent there, and the turn fails."""
    settings.CHATBOT_ALLOWED_HOSTS = ["127.0.0.1"]
    with FakeBotServer(lambda event: (200, {"texts": ["should never be asked"]})) as elsewhere:
        handler = type("Redirect", (_Redirect,), {"target": elsewhere.url})
        redirecting = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=redirecting.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{redirecting.server_address[1]}/bot"
            channel = bot_channel(external_bot(url), [make_operator("olga")])
            conversation = engine.receive(channel, text="hello")
            assert run_turns(engine, bot_turns) == ["handed_over"]
        finally:
            redirecting.shutdown()
            redirecting.server_close()
        assert elsewhere.received == []
    assert handover_reason(conversation) == "chatbot handed over: failed: the bot answered HTTP 307"

"""History and search (issue 15): diacritics-insensitive words, scope, filters, paging, and the plans."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from channels_app.engine import search
from channels_app.engine.errors import ServiceError
from channels_app.models import Connector, ConnectorKind, ConversationStatus, Message
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import ClientFactory, ContactFactory, ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db


def conversation_with(channel, *texts, client=None, days_ago=0, **fields):
    connector = Connector.objects.filter(open_channel=channel).first()
    client = client or ClientFactory(connector=connector)
    created = timezone.now() - timedelta(days=days_ago)
    conversation = ConversationFactory(client=client, created_at=created, last_message_at=created, **fields)
    for index, text in enumerate(texts):
        Message.objects.create(
            conversation=conversation,
            connector=connector,
            author_kind=Message.Author.CLIENT,
            text=text,
            created_at=created + timedelta(seconds=index),
        )
    return conversation


def found(user, query="", **filters):
    params = {"q": query, **{key: str(value) for key, value in filters.items()}}
    parsed, cursor = search.parse_search(params)
    return search.search_conversations(user, parsed, cursor=cursor)


def found_ids(user, query="", **filters):
    return [hit.conversation.pk for hit in found(user, query, **filters).hits]


@pytest.fixture
def ala():
    return make_operator("ala")


@pytest.fixture
def channel(ala):
    return make_channel([ala])


@pytest.fixture
def other_channel():
    return make_channel([make_operator("bob")])


def test_polish_word_typed_without_diacritics_finds_it_and_the_message(ala, channel):
    conversation = conversation_with(
        channel, "Dzień dobry", "Proszę o fakturę za październik", "Dziękuję", status=ConversationStatus.CLOSED
    )
    page = found(ala, "fakture")
    assert [hit.conversation.pk for hit in page.hits] == [conversation.pk]
    hit = page.hits[0]
    assert Message.objects.get(pk=hit.message_id).text == "Proszę o fakturę za październik"
    start, end = hit.snippet.highlights[0]
    assert hit.snippet.text[start:end] == "fakturę"
    # The last word is a prefix too; case does not matter.
    assert found_ids(ala, "FAKTUR") == [conversation.pk]
    assert found_ids(ala, "pazdziernik faktur") == [conversation.pk]
    assert found_ids(ala, "faktura") == []


def test_vietnamese_words_without_diacritics_find_them(ala, channel):
    conversation = conversation_with(channel, "Tôi muốn kiểm tra đơn hàng của tôi")
    conversation_with(channel, "Hàng đẹp lắm")
    assert found_ids(ala, "don hang") == [conversation.pk]
    assert found_ids(ala, "Đơn HÀNG") == [conversation.pk]
    assert found_ids(ala, "kiem tra don") == [conversation.pk]


def test_clients_are_found_by_name_email_and_phone_digits(ala, channel):
    connector = Connector.objects.get(open_channel=channel)
    client = ClientFactory(connector=connector, name="Łukasz Żółć", email="lukasz@example.pl", phone="+48 600 100 200")
    conversation = conversation_with(channel, "Hello", client=client)
    conversation_with(channel, "Hello")
    assert found_ids(ala, "lukasz zolc") == [conversation.pk]
    assert found_ids(ala, "600100200") == [conversation.pk]
    assert found_ids(ala, "600 100 200") == [conversation.pk]
    assert found_ids(ala, "example.pl") == [conversation.pk]
    # A client match is a conversation row without a message to open at.
    assert found(ala, "zolc").hits[0].message_id is None


def test_an_operator_never_finds_another_channels_conversation(ala, channel, other_channel):
    mine = conversation_with(channel, "faktura proszę")
    theirs = conversation_with(other_channel, "faktura proszę")
    assert found_ids(ala, "faktura") == [mine.pk]
    assert found_ids(ala) == [mine.pk]
    assert theirs.pk not in found_ids(ala, "", open_channel=other_channel.pk)


def test_a_supervisor_finds_only_the_channels_they_supervise(channel, other_channel):
    supervisor = UserFactory(username="sue")
    supervisor.groups.add(Group.objects.get_or_create(name="Supervisors")[0])
    other_channel.supervisors.add(supervisor)
    conversation_with(channel, "reklamacja towaru")
    supervised = conversation_with(other_channel, "reklamacja towaru")
    assert found_ids(supervisor, "reklamacja") == [supervised.pk]
    # Somebody with no channel finds nothing.
    assert found_ids(UserFactory(username="nobody"), "reklamacja") == []


def test_an_administrator_finds_everything(channel, other_channel):
    admin = UserFactory(username="root", is_superuser=True)
    ids = {conversation_with(channel, "zwrot").pk, conversation_with(other_channel, "zwrot").pk}
    assert set(found_ids(admin, "zwrot")) == ids


def test_filters(ala, channel):
    telegram = Connector.objects.create(open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="bot")
    bob = make_operator("bob2")
    closed_old = conversation_with(channel, "zamówienie", days_ago=8, status=ConversationStatus.CLOSED)
    missed = conversation_with(channel, "zamówienie", days_ago=1, is_unprocessed=True)
    held = conversation_with(
        channel,
        "zamówienie",
        client=ClientFactory(connector=telegram),
        status=ConversationStatus.ACTIVE,
        operator=bob,
    )
    assert found_ids(ala, "zamowienie") == [held.pk, missed.pk, closed_old.pk]
    assert found_ids(ala, "zamowienie", status="closed") == [closed_old.pk]
    assert found_ids(ala, "zamowienie", status="open") == [held.pk, missed.pk]
    assert found_ids(ala, "zamowienie", status="active") == [held.pk]
    assert found_ids(ala, "zamowienie", missed="true") == [missed.pk]
    assert found_ids(ala, "zamowienie", source="telegram") == [held.pk]
    assert found_ids(ala, "zamowienie", operator=bob.pk) == [held.pk]
    today = timezone.localdate()
    assert found_ids(ala, "", **{"from": today - timedelta(days=2)}) == [held.pk, missed.pk]
    assert found_ids(ala, "", to=today - timedelta(days=7)) == [closed_old.pk]
    assert found_ids(ala, "zamowienie", open_channel=channel.pk) == [held.pk, missed.pk, closed_old.pk]


def test_pages_follow_one_another_without_repeats(ala, channel):
    made = [conversation_with(channel, f"paczka numer {n}", days_ago=n).pk for n in range(7)]
    parsed, _ = search.parse_search({"q": "paczka"})
    seen, cursor = [], None
    while True:
        page = search.search_conversations(ala, parsed, cursor=cursor, limit=3)
        seen += [hit.conversation.pk for hit in page.hits]
        if page.next_cursor is None:
            break
        cursor = search.parse_cursor(page.next_cursor)
    assert seen == made


def test_the_latest_matching_message_is_the_hit(ala, channel):
    conversation_with(channel, "kurier nie przyszedł", "gdzie jest kurier?", "dziękuję")
    page = found(ala, "kurier")
    assert Message.objects.get(pk=page.hits[0].message_id).text == "gdzie jest kurier?"


@pytest.mark.parametrize(
    "params",
    [
        {"open_channel": "x"},
        {"open_channel": "-1"},
        {"operator": "0"},
        {"source": "pigeon"},
        {"status": "lost"},
        {"from": "2026-13-01"},
        {"to": "yesterday"},
        {"from": "2026-12-02", "to": "2026-12-01"},
        {"missed": "maybe"},
        {"cursor": "yesterday~1"},
        {"cursor": "1764669600000000~x"},
        {"cursor": "1" * 18 + "~1"},
        {"q": "x" * 201},
    ],
)
def test_bad_parameters_are_refused(params):
    with pytest.raises(ServiceError):
        search.parse_search(params)


def test_far_days_and_many_words_are_no_error():
    filters, _ = search.parse_search(
        {"q": " ".join(f"w{n}" for n in range(12)), "from": "0001-01-01", "to": "9999-12-31"}
    )
    assert filters.words == [f"w{n}" for n in range(8)]
    assert filters.date_from is None and filters.date_to is None


def test_the_client_timeline_spans_the_contacts_sources(ala, channel, other_channel):
    contact = ContactFactory()
    livechat = Connector.objects.get(open_channel=channel)
    telegram = Connector.objects.create(open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="bot")
    visitor = ClientFactory(connector=livechat, contact=contact)
    same_person = ClientFactory(connector=telegram, contact=contact)
    first = conversation_with(channel, "a", client=visitor, days_ago=3, status=ConversationStatus.CLOSED)
    second = conversation_with(channel, "b", client=same_person, days_ago=1, status=ConversationStatus.CLOSED)
    third = conversation_with(channel, "c", client=visitor)
    conversation_with(channel, "d")  # somebody else
    hidden = ClientFactory(connector=Connector.objects.get(open_channel=other_channel), contact=contact)
    conversation_with(other_channel, "e", client=hidden)  # the same person, in a channel Ala does not see
    assert [c.pk for c in search.client_timeline(ala, visitor)] == [third.pk, second.pk, first.pk]


def plan(queryset) -> str:
    """The plan with sequential and plain index scans off: on a test's few rows either would win, and what is
    asked is whether the words' condition can be answered from a GIN index at all."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_words_are_matched_through_the_gin_indexes(ala, channel):
    conversation_with(channel, "fakturę proszę")
    words = search.parse_search({"q": "fakture"})[0].words
    messages = Message.objects.filter(search.Matches(search.MessageWords(), search.WordsQuery(words)))
    assert "message_text_search" in plan(messages)
    assert "client_search_trigram" in plan(search.matching_clients(["600100"]))

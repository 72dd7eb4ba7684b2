"""Issue 15, point 3: a conversation opens on its latest messages and pages older ones (keyset on time, id)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.engine import selectors
from channels_app.engine.errors import ServiceError
from channels_app.models import Message
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator

pytestmark = pytest.mark.django_db


def _long_conversation(engine, count: int, *, same_instant_every: int = 1):
    """A conversation with ``count`` client messages "m0".."m<count-1>" after the ones ``receive`` stores;
    ``same_instant_every`` messages share one ``created_at`` (ties the id must break)."""
    channel = make_channel([make_operator("olga")])
    conversation = engine.receive(channel, "anna", "first")
    conversation.messages.all().delete()
    start = timezone.now() - timedelta(days=1)
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            connector=conversation.connector,
            author_kind=Message.Author.CLIENT,
            text=f"m{index}",
            created_at=start + timedelta(seconds=index // same_instant_every),
        )
        for index in range(count)
    )
    return conversation


def _texts(page) -> list[str]:
    return [message.text for message in page.messages]


def _id_of(conversation, text: str) -> int:
    return conversation.messages.get(text=text).pk


def test_a_conversation_opens_on_its_latest_page_oldest_first(engine):
    conversation = _long_conversation(engine, 25)
    page = selectors.conversation_messages(conversation.pk, limit=10)
    assert _texts(page) == [f"m{i}" for i in range(15, 25)]
    assert page.has_older and not page.has_newer


def test_a_short_conversation_is_one_page(engine):
    conversation = _long_conversation(engine, 3)
    page = selectors.conversation_messages(conversation.pk, limit=10)
    assert _texts(page) == ["m0", "m1", "m2"]
    assert not page.has_older and not page.has_newer


def test_before_pages_older_until_the_first_message(engine):
    conversation = _long_conversation(engine, 25)
    page = selectors.conversation_messages(conversation.pk, before_id=_id_of(conversation, "m15"), limit=10)
    assert _texts(page) == [f"m{i}" for i in range(5, 15)]
    assert page.has_older and page.has_newer
    last = selectors.conversation_messages(conversation.pk, before_id=page.messages[0].pk, limit=10)
    assert _texts(last) == [f"m{i}" for i in range(5)]
    assert not last.has_older and last.has_newer


def test_around_centres_the_linked_message(engine):
    conversation = _long_conversation(engine, 25)
    page = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m10"), limit=10)
    assert _texts(page) == [f"m{i}" for i in range(5, 15)]
    assert page.has_older and page.has_newer
    at_the_end = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m23"), limit=10)
    assert _texts(at_the_end) == [f"m{i}" for i in range(15, 25)]  # the older side fills the page
    assert at_the_end.has_older and not at_the_end.has_newer
    at_the_start = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m1"), limit=10)
    assert _texts(at_the_start) == [f"m{i}" for i in range(10)]
    assert not at_the_start.has_older and at_the_start.has_newer


def test_newer_than_pages_from_an_around_page_to_the_live_end(engine):
    conversation = _long_conversation(engine, 25)
    page = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m5"), limit=10)
    assert _texts(page) == [f"m{i}" for i in range(10)]
    newer = selectors.conversation_messages(conversation.pk, newer_than_id=page.messages[-1].pk, limit=10)
    assert _texts(newer) == [f"m{i}" for i in range(10, 20)]
    assert newer.has_older and newer.has_newer
    end = selectors.conversation_messages(conversation.pk, newer_than_id=newer.messages[-1].pk, limit=10)
    assert _texts(end) == [f"m{i}" for i in range(20, 25)]
    assert not end.has_newer


def test_pages_follow_time_not_ids(engine):
    """Ids need not follow time (messages imported, or committed late): pages by time still cover it all."""
    conversation = _long_conversation(engine, 6)
    latest = conversation.messages.get(text="m5")
    latest.created_at -= timedelta(days=2)  # now the oldest by time, with the largest id
    latest.save()
    page = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m5"), limit=2)
    assert _texts(page) == ["m5", "m0"]
    newer = selectors.conversation_messages(conversation.pk, newer_than_id=page.messages[-1].pk, limit=10)
    assert _texts(newer) == ["m1", "m2", "m3", "m4"]
    resync = selectors.conversation_messages(conversation.pk, after_id=_id_of(conversation, "m4"))
    assert _texts(resync) == ["m5"]  # by id: what was stored after the last one read


def test_after_gives_what_was_stored_since_a_message(engine):
    conversation = _long_conversation(engine, 25)
    page = selectors.conversation_messages(conversation.pk, after_id=_id_of(conversation, "m9"), limit=10)
    assert _texts(page) == [f"m{i}" for i in range(10, 20)]
    assert page.has_newer


def test_messages_of_the_same_instant_are_neither_skipped_nor_repeated(engine):
    conversation = _long_conversation(engine, 30, same_instant_every=7)  # a page boundary falls inside a tie
    seen: list[str] = []
    page = selectors.conversation_messages(conversation.pk, limit=4)
    seen = _texts(page)
    while page.has_older:
        page = selectors.conversation_messages(conversation.pk, before_id=page.messages[0].pk, limit=4)
        seen = _texts(page) + seen
    assert seen == [f"m{i}" for i in range(30)]
    around = selectors.conversation_messages(conversation.pk, around_id=_id_of(conversation, "m8"), limit=4)
    assert _texts(around) == ["m6", "m7", "m8", "m9"]


def test_a_position_outside_the_conversation_is_refused(engine):
    conversation = _long_conversation(engine, 3)
    other = engine.receive(make_channel([make_operator("piotr")], name="Other"), "bob", "elsewhere")
    foreign_id = other.messages.first().pk
    for position in ("before_id", "around_id", "newer_than_id"):
        with pytest.raises(ServiceError):
            selectors.conversation_messages(conversation.pk, **{position: foreign_id})
        with pytest.raises(ServiceError):
            selectors.conversation_messages(conversation.pk, **{position: 10**9})
    with pytest.raises(ServiceError):
        selectors.conversation_messages(conversation.pk, before_id=1, around_id=1)

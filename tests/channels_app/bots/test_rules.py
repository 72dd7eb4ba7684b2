"""The built-in rule bot (B1): matching, greeting, hand-over by phrase and by misses, one responder at a time."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.bots import services as bot_services
from channels_app.bots.base import BotReply
from channels_app.bots.rules import Rule, RuleBot, RuleSet, compile_phrases, decide, fold, matches
from channels_app.engine import conversations as conversation_services
from channels_app.engine import queue, sweeps
from channels_app.models import ConsentForm, Conversation, ConversationStatus, Message, Offer, StatusChange
from tests.channels_app.bots.support import bot_channel, bot_texts, bot_turns, make_chatbot, run_turns, status_path
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator

__all__ = ["bot_turns"]  # the fixture, imported for pytest

pytestmark = pytest.mark.django_db

FALLBACK = "Sorry, I did not understand. Please ask in other words, or write “operator” to talk to an operator."


# --- matching (pure) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Gặp NHÂN VIÊN!", "gap nhan vien"),
        ("Đặt hàng, đổi trả?", "dat hang doi tra"),
        ("Zażółć gęślą jaźń", "zazolc gesla jazn"),
        ("ŁÓDŹ — dostawą…", "lodz dostawa"),
        ("  price\tlist\n", "price list"),
    ],
)
def test_B1_fold_ignores_case_diacritics_and_punctuation(typed, folded):
    assert fold(typed) == folded


@pytest.mark.parametrize(
    ("keywords", "text", "matched"),
    [
        ("nhân viên", "toi muon gap nhan vien", True),  # Vietnamese typed without diacritics
        ("gia ca", "Giá cả thế nào?", True),  # keyword without diacritics, text with
        ("dostawa", "Ile kosztuje DOSTAWĄ?", True),  # Polish ą
        ("price list", "what is your price list?", True),
        ("price list", "list the price", False),  # words in order
        ("price", "priceless", False),  # whole words
        ("operator*", "poproszę operatora", True),  # prefix wildcard for inflection
        ("operator", "poproszę operatora", False),
        ("refund, zwrot, hoàn tiền", "chcę ZWROT pieniędzy", True),
        (" , ,", "anything", False),  # empty items are ignored
    ],
)
def test_B1_keywords_match_whole_words_case_and_diacritics_insensitive(keywords, text, matched):
    assert matches(compile_phrases(keywords), fold(text)) is matched


_LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_MARKS = st.sampled_from(["\u0300", "\u0301", "\u0303", "\u0309", "\u0323", "\u0328", "\u0306", "\u0302"])


@given(word=_LETTERS, marks=st.lists(_MARKS, min_size=1, max_size=8), shout=st.booleans())
def test_B1_any_accents_or_case_on_a_keyword_still_match(word, marks, shout):
    decorated = "".join(letter + marks[index % len(marks)] for index, letter in enumerate(word))
    decorated = unicodedata.normalize("NFC", decorated.upper() if shout else decorated)
    assert matches(compile_phrases(word), fold(f"well, {decorated}!"))


@given(st.text(max_size=60))
def test_B1_fold_is_idempotent_and_plain(text):
    folded = fold(text)
    assert fold(folded) == folded
    assert folded == folded.strip() and "  " not in folded


def _ruleset(**overrides) -> RuleSet:
    values = {
        "greeting": "",
        "handover_phrases": compile_phrases("operator, nhân viên"),
        "rules": (Rule(compile_phrases("price"), "It costs 10 zł."), Rule(compile_phrases("price, hours"), "later")),
        "max_unmatched": 2,
    }
    values.update(overrides)
    return RuleSet(**values)


def test_B1_first_matching_rule_answers_after_the_greeting_on_the_first_turn():
    ruleset = _ruleset(greeting="Hi, I am the bot.")
    reply = decide(ruleset, text="PRICE?", first_turn=True, unmatched_so_far=0, fallback_text="?")
    assert reply == BotReply(texts=("Hi, I am the bot.", "It costs 10 zł."))
    later = decide(ruleset, text="price", first_turn=False, unmatched_so_far=0, fallback_text="?")
    assert later == BotReply(texts=("It costs 10 zł.",))


def test_B1_handover_phrase_wins_over_rules():
    reply = decide(
        _ruleset(), text="price? no, NHAN VIEN please", first_turn=True, unmatched_so_far=0, fallback_text=""
    )
    assert reply.handover and not reply.texts and not reply.unmatched


def test_B1_unmatched_first_message_gets_only_the_greeting_and_is_not_a_miss():
    reply = decide(_ruleset(greeting="Hello!"), text="hey", first_turn=True, unmatched_so_far=0, fallback_text="?")
    assert reply == BotReply(texts=("Hello!",))


def test_B1_misses_get_the_fallback_until_the_last_allowed_one_hands_over():
    ruleset = _ruleset(max_unmatched=3)
    first = decide(ruleset, text="hmm", first_turn=True, unmatched_so_far=0, fallback_text="Again?")
    second = decide(ruleset, text="hmm", first_turn=False, unmatched_so_far=1, fallback_text="Again?")
    third = decide(ruleset, text="hmm", first_turn=False, unmatched_so_far=2, fallback_text="Again?")
    assert first == second == BotReply(texts=("Again?",), unmatched=True)
    assert third.handover and third.unmatched and not third.texts
    assert third.reason == "no rule matched 3 messages"


# --- the rule bot in a conversation --------------------------------------------------------------------------


@pytest.fixture
def olga(db):
    return make_operator("olga")


@pytest.fixture
def support_bot(db):
    return make_chatbot(
        greeting="Xin chào! Tôi là trợ lý ảo.",
        handover_keywords="nhân viên, operator",
        max_unmatched=2,
        handover_text="Đang chuyển bạn tới nhân viên.",
        rules={"giá, bao nhiêu": "Gói cơ bản giá 100.000 ₫.", "giờ mở cửa": "Chúng tôi mở cửa 8h–17h."},
    )


def test_B1_new_conversation_goes_to_the_bot_which_greets_and_answers_by_keyword(engine, bot_turns, olga, support_bot):
    channel = bot_channel(support_bot, [olga], language="vi")
    conversation = engine.receive(channel, text="Gia bao nhieu vay?")  # typed without diacritics
    assert conversation.status == ConversationStatus.BOT
    assert run_turns(engine, bot_turns) == ["answered"]
    assert bot_texts(conversation) == ["Xin chào! Tôi là trợ lý ảo.", "Gói cơ bản giá 100.000 ₫."]

    engine.receive(channel, visitor="visitor-1", text="GIỜ MỞ CỬA?")
    assert run_turns(engine, bot_turns) == ["answered"]
    assert bot_texts(conversation)[-1] == "Chúng tôi mở cửa 8h–17h."
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert not Offer.objects.filter(conversation=conversation).exists()
    # M1's welcome is not sent: the bot greets instead.
    assert not Message.objects.filter(conversation=conversation, system_key="welcome").exists()


def test_B1_handover_phrase_hands_over_and_distribution_offers_an_operator(engine, bot_turns, olga, support_bot):
    channel = bot_channel(support_bot, [olga], language="vi")
    conversation = engine.receive(channel, text="Cho tôi gặp nhân viên")
    assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.bot_handed_over_at == engine.clock.now()
    assert bot_texts(conversation) == ["Đang chuyển bạn tới nhân viên."]
    assert Offer.objects.get(conversation=conversation).operator == olga
    assert status_path(conversation) == ["bot", "queued", "offered"]
    handover = StatusChange.objects.get(conversation=conversation, to_status="queued")
    assert handover.reason == "chatbot handed over: the client asked for an operator"


def test_B1_hands_over_after_max_unmatched_messages(engine, bot_turns, olga, support_bot):
    channel = bot_channel(support_bot, [olga])  # English channel: the fallback is in English
    conversation = engine.receive(channel, text="hello")
    engine.receive(channel, visitor="visitor-1", text="do you sell bikes?")
    engine.receive(channel, visitor="visitor-1", text="and scooters?")
    assert run_turns(engine, bot_turns) == ["answered", "answered", "handed_over"]
    conversation.refresh_from_db()
    assert bot_texts(conversation) == [
        "Xin chào! Tôi là trợ lý ảo.",  # greeting only: the first message is not a miss
        "Sorry, I did not understand. Please ask in other words, or write “nhân viên” to talk to an operator.",
        "Đang chuyển bạn tới nhân viên.",
    ]
    assert conversation.bot_unmatched_count == 2
    assert conversation.status == ConversationStatus.OFFERED
    assert StatusChange.objects.get(conversation=conversation, to_status="queued").reason.endswith(
        "no rule matched 2 messages"
    )


def test_B1_no_operator_is_offered_while_the_bot_holds_the_conversation(engine, bot_turns, olga, support_bot):
    channel = bot_channel(support_bot, [olga])
    conversation = engine.receive(channel, text="giá")
    assert engine.route(conversation) is None
    assert engine.commit(queue.channel_redistribute, open_channel_id=channel.pk, trigger="test") == 0
    engine.clock.shift(timedelta(minutes=5))
    engine.commit(sweeps.conversations_retry_unassigned)
    assert not Offer.objects.filter(conversation=conversation).exists()
    assert engine.events(group=f"operator.{olga.pk}", type="offer.created") == []
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT


def test_B1_after_the_handover_the_bot_gets_nothing_more(engine, bot_turns, olga, support_bot):
    channel = bot_channel(support_bot, [olga])
    conversation = engine.receive(channel, text="operator please")
    late_turn = bot_turns[0]
    run_turns(engine, bot_turns)
    engine.receive(channel, visitor="visitor-1", text="giá?")
    assert bot_turns == []  # the receiver does not even queue a turn
    # A turn queued before the hand-over and run after it (a slow worker) answers nothing.
    outcome = engine.commit(bot_services.bot_message_answer, message_id=late_turn)
    assert outcome.outcome == "not_with_bot"
    assert bot_texts(Conversation.objects.get(pk=conversation.pk)) == ["Đang chuyển bạn tới nhân viên."]


def test_B1_a_retried_turn_answers_once_and_counts_one_miss(engine, bot_turns, olga):
    chatbot = make_chatbot(max_unmatched=5, handover_keywords="operator")
    channel = bot_channel(chatbot, [olga])
    conversation = engine.receive(channel, text="???")
    message_id = bot_turns[0]
    assert run_turns(engine, bot_turns) == ["answered"]
    again = engine.commit(bot_services.bot_message_answer, message_id=message_id)
    assert again.outcome == "already_answered"
    conversation.refresh_from_db()
    assert bot_texts(conversation) == [FALLBACK]
    assert conversation.bot_unmatched_count == 1


def test_B1_only_client_messages_of_bot_conversations_reach_the_bot(engine, bot_turns, olga):
    plain = make_channel([olga])  # no chatbot: the conversation is queued
    engine.receive(plain, text="hello")
    assert bot_turns == []
    channel = bot_channel(make_chatbot(), [olga])
    conversation = engine.receive(channel, visitor="v-bot", text="hello")
    assert len(bot_turns) == 1
    engine.commit(conversation_services.message_send_by_bot, conversation_id=conversation.pk, text="Hi!")
    assert len(bot_turns) == 1  # the bot's own message is not sent back to it


# --- failures hand over (B1 "or fails"), pluggable kinds (B2) -------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"is_active": False}, "failed: the chatbot is switched off"),
        ({"supports_open_channels": False}, "failed: the chatbot does not support open channels (B2)"),
        ({"kind": "llm"}, "failed: no bot of kind “llm” is installed"),
    ],
)
def test_B2_a_bot_that_cannot_serve_the_open_channel_hands_over(engine, bot_turns, olga, change, reason):
    chatbot = make_chatbot()
    channel = bot_channel(chatbot, [olga])
    conversation = engine.receive(channel, text="hello")
    type(chatbot).objects.filter(pk=chatbot.pk).update(**change)  # changed in the admin meanwhile
    assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert StatusChange.objects.get(conversation=conversation, to_status="queued").reason == (
        f"chatbot handed over: {reason}"
    )


def test_B1_a_crashing_bot_hands_over_instead_of_losing_the_turn(engine, bot_turns, olga, monkeypatch):
    def broken(self, conversation, message, *, now):
        raise KeyError("rules")

    monkeypatch.setattr(RuleBot, "handle", broken)
    channel = bot_channel(make_chatbot(), [olga])
    conversation = engine.receive(channel, text="hello")
    assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert StatusChange.objects.get(conversation=conversation, to_status="queued").reason == (
        "chatbot handed over: failed: the bot crashed (KeyError)"
    )


def test_B1_silent_bot_sweep_hands_over_after_timeout_and_grace(engine, bot_turns, olga, settings):
    settings.CHATBOT_SILENCE_SECONDS = 60
    chatbot = make_chatbot(timeout_seconds=10)
    channel = bot_channel(chatbot, [olga])
    answered = engine.receive(channel, visitor="answered", text="hello")
    run_turns(engine, [bot_turns.pop(0)])  # this one's turn ran
    lost = engine.receive(channel, visitor="lost", text="hello")  # this one's turn was lost (broker down)
    bot_turns.clear()

    engine.clock.shift(timedelta(seconds=69))
    assert engine.commit(bot_services.bot_silence_sweep) == 0
    engine.clock.shift(timedelta(seconds=1))
    assert engine.commit(bot_services.bot_silence_sweep) == 1
    lost.refresh_from_db()
    answered.refresh_from_db()
    assert lost.status == ConversationStatus.OFFERED
    assert StatusChange.objects.get(conversation=lost, to_status="queued").reason.endswith("the bot did not answer")
    assert answered.status == ConversationStatus.BOT
    assert engine.commit(bot_services.bot_silence_sweep) == 0


def test_B1_bot_tasks_are_registered_with_celery_and_the_sweep_with_beat():
    from channels_app.periodic import SWEEPS
    from contact_center.celery import app

    assert "channels_app.bots.tasks.answer_client_message" in app.tasks
    assert "channels_app.bots.tasks.sweep_silent_bots" in app.tasks
    assert any(sweep.task == "channels_app.bots.tasks.sweep_silent_bots" for sweep in SWEEPS)


def test_A1_with_a_chatbot_the_agreement_is_the_bots_first_turn(engine, bot_turns, olga, support_bot):
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages for a year.")
    channel = bot_channel(support_bot, [olga], connector_kind="zalo", consent_required=True, consent_form=form)
    conversation = engine.receive(channel, visitor="2468013579", text="Gia bao nhieu?")
    assert conversation.status == ConversationStatus.CONSENT
    assert bot_turns == []  # the bot hears nothing before the client agrees

    engine.receive(channel, visitor="2468013579", text="I agree")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert run_turns(engine, bot_turns) == ["answered"]
    assert bot_texts(conversation) == ["Xin chào! Tôi là trợ lý ảo."]

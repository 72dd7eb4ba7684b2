"""The built-in rule bot (B1): keywords or phrases → answer; hand-over phrases; hand-over after N misses.

Matching ignores case, diacritics and punctuation, so "Gặp NHÂN VIÊN!",
"gap nhan vien" and "gặp nhân viên" are the same text, as are "Dostawa?" and
"dostawą". A keyword matches whole words in order ("price list" matches
"what is your price list?", "price" does not match "priceless"); a word
ending in ``*`` matches any word it begins ("operator*" matches "operatora",
"operatorem", useful for Polish inflection).

:func:`decide` is pure (no ORM, no clock) and holds the whole policy;
:class:`RuleBot` only gathers its inputs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.utils import translation
from django.utils.translation import gettext

from channels_app.bots.base import Bot, BotReply, register
from channels_app.models import Chatbot, Conversation, Message

# Letters NFKD does not split into a base letter and a combining mark.
_UNDECOMPOSABLE = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "ı": "i"})
_NOT_A_LETTER_OR_DIGIT = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """Lower-case, without diacritics or punctuation, words separated by one space: "Łódź, Việt!" → "lodz viet"."""
    # Compatibility forms (𝕬, ﬁ, full-width letters) fold to plain letters before and after case folding.
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    decomposed = decomposed.translate(_UNDECOMPOSABLE)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NOT_A_LETTER_OR_DIGIT.sub(" ", bare).split())


def compile_phrases(comma_separated: str) -> tuple[re.Pattern[str], ...]:
    """Patterns for the comma-separated keywords or phrases an administrator typed (empty items are ignored)."""
    patterns = []
    for phrase in comma_separated.split(","):
        pieces: list[str] = []
        for word in phrase.split():
            folded_words = fold(word).split()
            if not folded_words:
                continue
            escaped = [re.escape(folded) for folded in folded_words]
            if word.endswith("*"):
                escaped[-1] += r"\w*"
            pieces.extend(escaped)
        if pieces:
            patterns.append(re.compile(r"(?:^| )" + " ".join(pieces) + r"(?= |$)"))
    return tuple(patterns)


def matches(patterns: tuple[re.Pattern[str], ...], folded_text: str) -> bool:
    return any(pattern.search(folded_text) for pattern in patterns)


@dataclass(frozen=True)
class Rule:
    patterns: tuple[re.Pattern[str], ...]
    answer: str


@dataclass(frozen=True)
class RuleSet:
    greeting: str
    handover_phrases: tuple[re.Pattern[str], ...]
    rules: tuple[Rule, ...]  # in the administrator's order: the first match answers
    max_unmatched: int


def decide(ruleset: RuleSet, *, text: str, first_turn: bool, unmatched_so_far: int, fallback_text: str) -> BotReply:
    """The rule bot's answer to one client message.

    1. A hand-over phrase ("operator") hands over at once.
    2. Otherwise the first rule with a matching keyword answers, after the
       greeting when this is the bot's first turn in the conversation.
    3. An unmatched first message gets only the greeting, when there is one,
       and is not counted: the client has not yet seen what the bot can do.
    4. Any other unmatched message counts; the ``max_unmatched``-th one hands
       over, the earlier ones get ``fallback_text`` (ask again, or ask for an
       operator).
    """
    folded = fold(text)
    if matches(ruleset.handover_phrases, folded):
        return BotReply(handover=True, reason="the client asked for an operator")
    greeting = (ruleset.greeting.strip(),) if first_turn and ruleset.greeting.strip() else ()
    for rule in ruleset.rules:
        if matches(rule.patterns, folded):
            return BotReply(texts=(*greeting, rule.answer))
    if greeting:
        return BotReply(texts=greeting)
    misses = unmatched_so_far + 1
    if misses >= ruleset.max_unmatched:
        return BotReply(
            handover=True,
            unmatched=True,
            reason=f"no rule matched {misses} message{'s' if misses != 1 else ''}",
        )
    return BotReply(texts=(fallback_text,), unmatched=True)


def ruleset_for(chatbot: Chatbot) -> RuleSet:
    rules = tuple(
        Rule(patterns=compile_phrases(rule.keywords), answer=rule.answer.strip())
        for rule in chatbot.rules.order_by("position", "id")
        if rule.answer.strip()
    )
    return RuleSet(
        greeting=chatbot.greeting,
        handover_phrases=compile_phrases(chatbot.handover_keywords),
        rules=tuple(rule for rule in rules if rule.patterns),
        max_unmatched=max(1, chatbot.max_unmatched),
    )


def fallback_text(chatbot: Chatbot, language: str) -> str:
    """What the bot says to a message it did not understand, in the open channel's language (O3)."""
    first_phrase = next((phrase.strip() for phrase in chatbot.handover_keywords.split(",") if phrase.strip()), "")
    with translation.override(language):
        if first_phrase:
            return gettext(
                "Sorry, I did not understand. Please ask in other words, or write “%(phrase)s” to talk to an operator."
            ) % {"phrase": first_phrase.rstrip("*")}
        return gettext("Sorry, I did not understand. Please ask in other words.")


@register
class RuleBot(Bot):
    """Answers from the rules configured in the admin; runs in-process, under the conversation's row lock."""

    kind = Chatbot.Kind.RULES

    def handle(self, conversation: Conversation, message: Message, *, now: datetime) -> BotReply:
        first_turn = not Message.objects.filter(conversation=conversation, author_kind=Message.Author.BOT).exists()
        # A pressed button is the client's input by its title and by its payload: a rule may match either.
        payload = (message.button or {}).get("payload") or ""
        return decide(
            ruleset_for(self.chatbot),
            text=f"{message.text}\n{payload}" if payload else message.text,
            first_turn=first_turn,
            unmatched_so_far=conversation.bot_unmatched_count,
            fallback_text=fallback_text(self.chatbot, conversation.open_channel.language),
        )

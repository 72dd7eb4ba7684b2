"""R1: which typed reply is a client's rating, and the open channel's own rating answers.

Only an explicit rating counts: a rating button or quick reply (the connectors
say so themselves), the exact 👍 / 👎 (any skin tone), or one of the answers
configured for the open channel (``rating_answers``, e.g. ``tak / nie``).
Ordinary words such as "yes", "no", "1" or "+" are messages: a client who
answers "no" to a question must not rate the operator and close the enquiry.

The setting reads ``<like answers> / <dislike answers>``, several answers on
a side separated by commas (``1, tak / 2, nie``). Answers are matched whole,
ignoring case and surrounding spaces.
"""

from __future__ import annotations

from dataclasses import dataclass

LIKE = "like"
DISLIKE = "dislike"

SKIN_TONES = ("", "\U0001f3fb", "\U0001f3fc", "\U0001f3fd", "\U0001f3fe", "\U0001f3ff")
THUMBS_UP = frozenset(f"\U0001f44d{tone}" for tone in SKIN_TONES)
THUMBS_DOWN = frozenset(f"\U0001f44e{tone}" for tone in SKIN_TONES)
# Some keyboards add the emoji presentation selector to 👍; it changes nothing the client meant.
_EMOJI_PRESENTATION = "\ufe0f"

ANSWERS_SEPARATOR = "/"
ANSWER_SEPARATOR = ","
MAX_ANSWER_LENGTH = 30


class RatingAnswersError(ValueError):
    """What is wrong with a ``rating_answers`` setting: a ``problem`` code (the model words it for the
    administrator, in their language) and the ``answer`` concerned, if any."""

    SIDES = "sides"  # not exactly one "/"
    EMPTY_SIDE = "empty_side"  # no answer before or after the "/"
    EMPTY_ANSWER = "empty_answer"  # two commas in a row, or one at an end
    TOO_LONG = "too_long"  # an answer longer than MAX_ANSWER_LENGTH
    ON_BOTH_SIDES = "on_both_sides"  # one answer both a like and a dislike

    def __init__(self, problem: str, answer: str = "") -> None:
        super().__init__(f"{problem}: {answer}" if answer else problem)
        self.problem = problem
        self.answer = answer


@dataclass(frozen=True)
class RatingAnswers:
    """The typed answers an open channel takes as a like or a dislike, besides the thumbs."""

    like: frozenset[str] = frozenset()
    dislike: frozenset[str] = frozenset()


def parse_rating_answers(setting: str) -> RatingAnswers:
    """The answers of an open channel's ``rating_answers`` setting; :class:`RatingAnswersError` says what is wrong.

    1. Empty: no answers of its own (the thumbs still count).
    2. Exactly one ``/`` splits the like answers from the dislike answers.
    3. Each side holds one or more answers separated by commas, none empty,
       none longer than ``MAX_ANSWER_LENGTH``, and no answer on both sides.
    """
    setting = setting.strip()
    if not setting:
        return RatingAnswers()
    sides = setting.split(ANSWERS_SEPARATOR)
    if len(sides) != 2:
        raise RatingAnswersError(RatingAnswersError.SIDES)
    like, dislike = (_answers_of(side) for side in sides)
    if not like or not dislike:
        raise RatingAnswersError(RatingAnswersError.EMPTY_SIDE)
    # A thumb keeps its meaning: configured as the opposite answer it would be read two ways.
    both = (like & dislike) | (like & THUMBS_DOWN) | (dislike & THUMBS_UP)
    if both:
        raise RatingAnswersError(RatingAnswersError.ON_BOTH_SIDES, sorted(both)[0])
    return RatingAnswers(like=like, dislike=dislike)


def typed_rating(text: str, answers: RatingAnswers) -> str | None:
    """``LIKE`` or ``DISLIKE`` when the whole reply is an explicit rating, else ``None`` (an ordinary message)."""
    reply = _normalised(text)
    if reply in THUMBS_UP or reply in answers.like:
        return LIKE
    if reply in THUMBS_DOWN or reply in answers.dislike:
        return DISLIKE
    return None


def _answers_of(side: str) -> frozenset[str]:
    if not side.strip():
        return frozenset()
    answers = [_normalised(answer) for answer in side.split(ANSWER_SEPARATOR)]
    if any(not answer for answer in answers):
        raise RatingAnswersError(RatingAnswersError.EMPTY_ANSWER)
    too_long = [answer for answer in answers if len(answer) > MAX_ANSWER_LENGTH]
    if too_long:
        raise RatingAnswersError(RatingAnswersError.TOO_LONG, too_long[0])
    return frozenset(answers)


def _normalised(text: str) -> str:
    return text.replace(_EMOJI_PRESENTATION, "").strip().casefold()

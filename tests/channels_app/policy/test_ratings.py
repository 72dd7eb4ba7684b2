"""R1: which typed reply is a client's rating (pure module ``channels_app.policy.ratings``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy.ratings import (
    DISLIKE,
    LIKE,
    MAX_ANSWER_LENGTH,
    RatingAnswers,
    RatingAnswersError,
    parse_rating_answers,
    typed_rating,
)

NONE = RatingAnswers()


@pytest.mark.parametrize("word", ["yes", "no", "1", "0", "+", "-", "like", "dislike", "ok", "👍 thanks", "👍👍", ""])
def test_R1_ordinary_words_are_not_ratings(word):
    assert typed_rating(word, NONE) is None


@pytest.mark.parametrize("tone", ["", "🏻", "🏼", "🏽", "🏾", "🏿"])
def test_R1_the_exact_thumbs_in_every_skin_tone_are_ratings(tone):
    assert typed_rating(f"👍{tone}", NONE) == LIKE
    assert typed_rating(f" 👎{tone}\n", NONE) == DISLIKE


def test_R1_a_thumb_with_the_emoji_presentation_selector_is_the_same_thumb():
    assert typed_rating("👍\ufe0f", NONE) == LIKE


def test_R1_configured_answers_rate_whole_and_ignoring_case():
    answers = parse_rating_answers(" 1, Tak / 2 ,NIE ")
    assert answers == RatingAnswers(like=frozenset({"1", "tak"}), dislike=frozenset({"2", "nie"}))
    assert typed_rating("TAK", answers) == LIKE
    assert typed_rating(" 2 ", answers) == DISLIKE
    assert typed_rating("👎", answers) == DISLIKE
    assert typed_rating("tak, ale", answers) is None
    assert typed_rating("no", answers) is None


def test_R1_no_configured_answers_by_default():
    assert parse_rating_answers("") == NONE
    assert parse_rating_answers("   ") == NONE


@pytest.mark.parametrize(
    ("setting", "problem", "answer"),
    [
        ("yes", RatingAnswersError.SIDES, ""),
        ("1/2/3", RatingAnswersError.SIDES, ""),
        ("yes /", RatingAnswersError.EMPTY_SIDE, ""),
        (" / no", RatingAnswersError.EMPTY_SIDE, ""),
        ("yes,, ok / no", RatingAnswersError.EMPTY_ANSWER, ""),
        ("yes / no,", RatingAnswersError.EMPTY_ANSWER, ""),
        (f"{'a' * (MAX_ANSWER_LENGTH + 1)} / no", RatingAnswersError.TOO_LONG, "a" * (MAX_ANSWER_LENGTH + 1)),
        ("ok, yes / OK", RatingAnswersError.ON_BOTH_SIDES, "ok"),
        ("👎 / 2", RatingAnswersError.ON_BOTH_SIDES, "👎"),
    ],
)
def test_R1_invalid_rating_answers_say_what_is_wrong(setting, problem, answer):
    with pytest.raises(RatingAnswersError) as raised:
        parse_rating_answers(setting)
    assert (raised.value.problem, raised.value.answer) == (problem, answer)


ANSWER = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="/,\ufe0f"),
    min_size=1,
    max_size=MAX_ANSWER_LENGTH,
).filter(lambda answer: len(answer.casefold()) <= MAX_ANSWER_LENGTH)


@given(like=st.lists(ANSWER, min_size=1, max_size=4), dislike=st.lists(ANSWER, min_size=1, max_size=4))
def test_R1_every_configured_answer_rates_its_own_side(like, dislike):
    """Whatever the administrator writes that parses, each answer as typed rates its own side and nothing else."""
    setting = f"{', '.join(like)} / {', '.join(dislike)}"
    try:
        answers = parse_rating_answers(setting)
    except RatingAnswersError as error:
        assert error.problem == RatingAnswersError.ON_BOTH_SIDES
        return
    for answer in like:
        assert typed_rating(answer, answers) == LIKE
    for answer in dislike:
        assert typed_rating(answer, answers) == DISLIKE

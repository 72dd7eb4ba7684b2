"""Search text (issue 15): the words of a query, and a short snippet of a found message with its matches marked.

Pure rules (no Django, no I/O). The database folds texts with PostgreSQL's ``unaccent`` (see migration 0019);
:func:`fold` is its twin for the snippet: lower case, no diacritics ("Fakturę" → "fakture", "Đơn" → "don"),
keeping for every folded character the index of the character it came from, so a match found in the folded text
is marked at the right place of the original one.

A snippet is plain text with ``(start, end)`` offsets of the matches: the page marks them with text nodes, so a
client's message never becomes markup.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

QUERY_MAX_LENGTH = 200
QUERY_MAX_WORDS = 8
SNIPPET_LENGTH = 160

# Letters with no decomposition that unaccent still maps (its rules file), in the languages we serve.
_SPECIAL = {
    "đ": "d",
    "Đ": "d",
    "ł": "l",
    "Ł": "l",
    "ø": "o",
    "Ø": "o",
    "ß": "ss",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ı": "i",
}
# Letters and digits; the underscore and everything else separate words (as PostgreSQL's parser does).
_WORD = re.compile(r"[^\W_]+")


class QueryTooLong(ValueError):
    """The query is longer than :data:`QUERY_MAX_LENGTH` characters."""


def fold_char(char: str) -> str:
    special = _SPECIAL.get(char)
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(part for part in decomposed if not unicodedata.combining(part)).lower()


def fold(text: str) -> tuple[str, list[int]]:
    """``text`` in lower case without diacritics, and for each of its characters the index in ``text``."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for part in fold_char(char):
            folded.append(part)
            origin.append(index)
    return "".join(folded), origin


def query_words(query: str) -> list[str]:
    """The first :data:`QUERY_MAX_WORDS` words of a search box's text, folded, in order, each once.
    Raises :class:`QueryTooLong`."""
    if len(query) > QUERY_MAX_LENGTH:
        raise QueryTooLong(query)
    words: list[str] = []
    for word in _WORD.findall(fold(query)[0]):
        if word not in words:
            words.append(word)
    return words[:QUERY_MAX_WORDS]


def tsquery_text(words: list[str]) -> str:
    """The ``to_tsquery`` text: every word, the last one also as a prefix (the operator may still be typing)."""
    lexemes = [f"'{word}'" for word in words]
    if lexemes:
        lexemes[-1] += ":*"
    return " & ".join(lexemes)


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]  # (start, end) offsets into ``text``, in order, not overlapping


def snippet(text: str, words: list[str], *, length: int = SNIPPET_LENGTH) -> Snippet:
    """Up to ``length`` characters of ``text`` around its first match, with every word that starts with one of
    ``words`` (folded) marked; the start of ``text`` when nothing matches."""
    folded, origin = fold(text)
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(folded):
        if any(match.group().startswith(word) for word in words):
            start, end = origin[match.start()], origin[match.end() - 1] + 1
            spans.append((start, end))
    first = spans[0][0] if spans else 0
    begin = max(0, min(first - length // 4, len(text) - length))
    # Start at a word boundary when cutting into the text.
    if begin > 0:
        space = text.rfind(" ", 0, begin + 1)
        begin = space + 1 if space >= 0 and begin - space < 20 else begin
    end = min(len(text), begin + length)
    prefix = "…" if begin > 0 else ""
    suffix = "…" if end < len(text) else ""
    shift = len(prefix) - begin
    kept = tuple(
        (max(start, begin) + shift, min(stop, end) + shift) for start, stop in spans if start < end and stop > begin
    )
    return Snippet(text=prefix + text[begin:end] + suffix, highlights=kept)

"""History and search (issue 15): the conversations a person may see, found by their words and filtered.

One read, :func:`search_conversations`, serves the console's "History", the client's timeline and the KPI
conversation list. It never writes.

- **Scope**: :func:`channels_app.engine.access.conversations_seen_by`, the conversations the viewer may open
  (the channels they work in or supervise, and those they took part in; everything for an administrator).
- **Words**: every word of the query must be in one message of the conversation, or all of them in its
  client's name, username, e-mail or phone; diacritics and case do not matter ("fakture" finds "fakturę",
  "don hang" finds "đơn hàng") and the last word is also a prefix ("faktur" finds "fakturę"). Messages are
  matched through the GIN index over their stored words (``to_tsvector('simple', channels_unaccent(text))``)
  and clients through the trigram index over ``channels_client_search_text(...)`` (migration 0019): the
  expressions below are those of the indexes, word for word.
- **Results**: one row per conversation, newest first: for a message match the time of its latest matching
  message (and that message's id, to open the conversation there, with a snippet), otherwise the
  conversation's last activity. Paged by a keyset cursor (time, conversation id) that
  :attr:`SearchPage.next_cursor` hands out and :func:`parse_search` reads back.
- **No words**: the filtered conversations by last activity (the history).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import BooleanField, Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from channels_app.engine.access import conversations_seen_by
from channels_app.engine.errors import ServiceError
from channels_app.models import (
    CLOSED_STATUSES,
    OPEN_STATUSES,
    Client,
    ConnectorKind,
    Conversation,
    ConversationStatus,
    Message,
    operator_display_name,
)
from channels_app.policy import search_text

SEARCH_PAGE = 30
SEARCH_PAGE_MAX = 100
TIMELINE_LIMIT = 100
# "open" and "closed" group the statuses; any single status may be asked for too.
FIRST_DAY = date(1970, 1, 2)
LAST_DAY = date(9000, 1, 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Each part of a cursor: digits, few enough that any of them is a valid time and id (the schema's pattern).
CURSOR_PATTERN = r"^[0-9]{1,17}~[0-9]{1,18}$"
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": tuple(OPEN_STATUSES),
    "closed": tuple(CLOSED_STATUSES),
}


# --- the indexed expressions (migration 0019) --------------------------------------------------------------


class Unaccented(Func):
    function = "public.channels_unaccent"
    output_field = TextField()


class MessageWords(Func):
    """The message's stored words, ``channels_app_message.search_words`` (migration 0019), indexed by
    ``message_text_search``. The model does not declare the column (every message read would fetch it), so it is
    reached through ``text``'s column, whose table alias Django chooses."""

    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(F("text"))

    def as_sql(self, compiler, connection, **extra_context):  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        column = connection.ops.quote_name("text")
        if not sql.endswith(column):
            raise ValueError(f"unexpected column SQL: {sql}")
        return sql[: -len(column)] + connection.ops.quote_name("search_words"), params


class WordsQuery(Func):
    template = "to_tsquery('simple'::regconfig, %(expressions)s)"
    output_field = TextField()

    def __init__(self, words: list[str]) -> None:
        super().__init__(Unaccented(Value(search_text.tsquery_text(words))))


class Matches(Func):
    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


class ClientText(Func):
    """The expression of the trigram index ``client_search_trigram``."""

    function = "public.channels_client_search_text"
    output_field = TextField()

    def __init__(self, prefix: str = "") -> None:
        super().__init__(*(F(prefix + name) for name in ("name", "username", "email", "phone")))


# --- parameters ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    query: str = ""
    open_channel_id: int | None = None
    operator_id: int | None = None
    source: str | None = None  # a ConnectorKind
    status: str | None = None  # a STATUS_GROUPS key or a ConversationStatus
    date_from: date | None = None  # created on or after this local day
    date_to: date | None = None  # created on or before this local day
    missed: bool = False  # Q4: flagged unprocessed (nobody answered in time)
    words: list[str] = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class Cursor:
    at: datetime
    conversation_id: int

    def __str__(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}~{self.conversation_id}"


def _positive_int(params: Mapping[str, Any], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not str(raw).isdigit() or int(raw) <= 0 or int(raw) > 2**62:
        raise ServiceError(_("“%(name)s” must be a positive whole number.") % {"name": name})
    return int(raw)


def _day(params: Mapping[str, Any], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        parsed = parse_date(str(raw))
    except ValueError:
        parsed = None
    if parsed is None:
        raise ServiceError(_("“%(name)s” must be a date (YYYY-MM-DD).") % {"name": name})
    # Days before any conversation or after any clock are as good as none (and cannot overflow).
    return parsed if FIRST_DAY <= parsed <= LAST_DAY else None


def parse_cursor(raw: str | None) -> Cursor | None:
    """A cursor is ``<microseconds since the epoch>~<conversation id>`` (:meth:`Cursor.__str__`)."""
    if raw is None or raw == "":
        return None
    if not re.fullmatch(CURSOR_PATTERN, str(raw)):
        raise ServiceError(_("This page link is not valid; search again."))
    micros, _sep, conversation_id = str(raw).partition("~")
    return Cursor(at=EPOCH + timedelta(microseconds=int(micros)), conversation_id=int(conversation_id))


def parse_search(params: Mapping[str, Any]) -> tuple[SearchFilters, Cursor | None]:
    """The filters and the page asked for by query parameters (``q``, ``open_channel``, ``operator``,
    ``source``, ``status``, ``from``, ``to``, ``missed``, ``cursor``); anything invalid is a :class:`ServiceError`
    (400) that names the parameter."""
    query = str(params.get("q") or "").strip()
    try:
        words = search_text.query_words(query)
    except search_text.QueryTooLong:
        raise ServiceError(
            _("Search for at most %(length)d characters.") % {"length": search_text.QUERY_MAX_LENGTH}
        ) from None
    source = params.get("source") or None
    if source is not None and source not in ConnectorKind.values:
        raise ServiceError(_("Unknown source."))
    status = params.get("status") or None
    if status is not None and status not in STATUS_GROUPS and status not in ConversationStatus.values:
        raise ServiceError(_("Unknown status."))
    missed_raw = str(params.get("missed") or "").lower()
    if missed_raw not in ("", "0", "1", "true", "false"):
        raise ServiceError(_("“missed” must be true or false."))
    date_from, date_to = _day(params, "from"), _day(params, "to")
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ServiceError(_("The first day comes after the last one."))
    filters = SearchFilters(
        query=query,
        open_channel_id=_positive_int(params, "open_channel"),
        operator_id=_positive_int(params, "operator"),
        source=source,
        status=status,
        date_from=date_from,
        date_to=date_to,
        missed=missed_raw in ("1", "true"),
        words=words,
    )
    return filters, parse_cursor(params.get("cursor"))


# --- the read --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchHit:
    conversation: Conversation
    at: datetime
    message_id: int | None = None
    snippet: search_text.Snippet | None = None


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None


def filtered_conversations(user, filters: SearchFilters) -> QuerySet[Conversation]:
    """The conversations ``user`` may see that pass ``filters`` (the words aside)."""
    conversations = conversations_seen_by(user)
    if filters.open_channel_id is not None:
        conversations = conversations.filter(open_channel_id=filters.open_channel_id)
    if filters.operator_id is not None:
        conversations = conversations.filter(operator_id=filters.operator_id)
    if filters.source is not None:
        conversations = conversations.filter(connector__kind=filters.source)
    if filters.status is not None:
        conversations = conversations.filter(status__in=STATUS_GROUPS.get(filters.status, (filters.status,)))
    zone = timezone.get_current_timezone()
    if filters.date_from is not None:
        conversations = conversations.filter(created_at__gte=datetime.combine(filters.date_from, time(), zone))
    if filters.date_to is not None:
        last = datetime.combine(filters.date_to + timedelta(days=1), time(), zone)
        conversations = conversations.filter(created_at__lt=last)
    if filters.missed:
        conversations = conversations.filter(is_unprocessed=True)
    return conversations


def _before(cursor: Cursor | None, at: str, conversation: str) -> Q:
    if cursor is None:
        return Q()
    return Q(**{f"{at}__lt": cursor.at}) | Q(**{at: cursor.at, f"{conversation}__lt": cursor.conversation_id})


def matching_clients(words: list[str]) -> QuerySet[Client]:
    """Clients whose name, username, e-mail or phone holds every word (phone: digits only)."""
    clients = Client.objects.alias(search_text=ClientText())
    for word in words:
        clients = clients.filter(search_text__contains=word)
    return clients


def search_conversations(
    user, filters: SearchFilters, *, cursor: Cursor | None = None, limit: int = SEARCH_PAGE
) -> SearchPage:
    """One page of what ``user`` finds with ``filters``, newest first (see the module's docstring)."""
    limit = max(1, min(limit, SEARCH_PAGE_MAX))
    conversations = filtered_conversations(user, filters)
    found: list[tuple[datetime, int, int | None, str]] = []  # (at, conversation id, message id, message text)
    if not filters.words:
        rows = (
            conversations.annotate(at=Coalesce("last_message_at", "created_at"))
            .filter(_before(cursor, "at", "id"))
            .order_by("-at", "-id")
            .values_list("at", "id")[: limit + 1]
        )
        found = [(at, conversation_id, None, "") for at, conversation_id in rows]
    else:
        clients = matching_clients(filters.words).values("pk")
        by_client = (
            conversations.filter(client_id__in=clients)
            .annotate(at=Coalesce("last_message_at", "created_at"))
            .filter(_before(cursor, "at", "id"))
            .order_by("-at", "-id")
            .values_list("at", "id")[: limit + 1]
        )
        found = [(at, conversation_id, None, "") for at, conversation_id in by_client]
        # The latest matching message of each conversation whose client did not match already: a matching message
        # with no later matching message in its conversation. Written so (not DISTINCT ON), PostgreSQL may either
        # match through the GIN index and sort, or, for a common word, walk the newest messages and stop at the
        # page's end (decision 0014).
        words = WordsQuery(filters.words)
        later_match = Message.objects.filter(
            Matches(MessageWords(), words),
            conversation_id=OuterRef("conversation_id"),
        ).filter(Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id")))
        matching = Message.objects.filter(Matches(MessageWords(), words))
        if conversations.query.has_filters():  # an administrator's unfiltered search needs no join
            matching = matching.filter(conversation_id__in=conversations.values("pk"))
        by_message = (
            matching.exclude(conversation_id__in=Conversation.objects.filter(client_id__in=clients).values("pk"))
            .filter(~Exists(later_match))
            .filter(_before(cursor, "created_at", "conversation_id"))
            .order_by("-created_at", "-conversation_id")
            .values_list("created_at", "conversation_id", "id", "text")[: limit + 1]
        )
        found += list(by_message)
    found.sort(key=lambda row: (row[0], row[1]), reverse=True)
    more = len(found) > limit
    found = found[:limit]
    loaded = Conversation.objects.select_related(
        "client__connector", "connector", "open_channel", "operator__operator_profile"
    ).in_bulk([row[1] for row in found])
    hits = [
        SearchHit(
            conversation=loaded[conversation_id],
            at=at,
            message_id=message_id,
            snippet=search_text.snippet(text, filters.words) if message_id is not None else None,
        )
        for at, conversation_id, message_id, text in found
    ]
    next_cursor = str(Cursor(at=found[-1][0], conversation_id=found[-1][1])) if more else None
    return SearchPage(hits=hits, next_cursor=next_cursor)


def matching_conversations(user, words: list[str]) -> QuerySet[Conversation]:
    """The conversations ``user`` may see with a message holding every word, or whose client matches them all
    (the KPI conversation list narrows its own query with it; no order, no snippet)."""
    by_message = Message.objects.filter(Matches(MessageWords(), WordsQuery(words))).values("conversation_id")
    by_client = matching_clients(words).values("pk")
    return conversations_seen_by(user).filter(Q(pk__in=by_message) | Q(client_id__in=by_client))


def client_timeline(user, client: Client, *, limit: int = TIMELINE_LIMIT) -> list[Conversation]:
    """Every conversation of ``client`` and of the other clients of their CRM contact (the same person in other
    sources) that ``user`` may see, newest first."""
    same_person = Q(client_id=client.pk)
    if client.contact_id is not None:
        same_person |= Q(client__contact_id=client.contact_id)
    return list(
        conversations_seen_by(user)
        .filter(same_person)
        .select_related("client__connector", "connector", "open_channel", "operator__operator_profile")
        .annotate(at=Coalesce("last_message_at", "created_at"))
        .order_by("-at", "-id")[:limit]
    )


def hit_row(conversation: Conversation, *, at: datetime, message_id: int | None, snippet) -> dict:
    """What a page shows of one found conversation (the console's REST answer and the KPI list)."""
    return {
        "id": conversation.pk,
        "client_name": str(conversation.client),
        "open_channel": {"id": conversation.open_channel_id, "name": conversation.open_channel.name},
        "source": conversation.connector.kind,
        "source_label": conversation.connector.get_kind_display(),
        "status": conversation.status,
        "status_label": conversation.get_status_display(),
        "is_open": conversation.is_open,
        "is_unprocessed": conversation.is_unprocessed,
        "operator_name": operator_display_name(conversation.operator) if conversation.operator else "",
        "created_at": conversation.created_at,
        "at": at,
        "message_id": message_id,
        "snippet": {"text": snippet.text, "highlights": [list(span) for span in snippet.highlights]}
        if snippet is not None
        else None,
    }

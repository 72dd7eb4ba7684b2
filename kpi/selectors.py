"""KPI reads (K3, R1, R3, O2): the supervisor pages' queries.

Days are local days of each open channel's time zone (``OpenChannel.time_zone``,
the zone of its working hours): a wait belongs to the local day, in the zone of
the open channel it was recorded in, on which the client started waiting; a
client rating to the local day it was given, a supervisor rating to that of its
latest change (both in the zone of the conversation's open channel). When the
page shows open channels of different zones together, each record still counts
on its own channel's local day (docs/decisions/0012-kpi-days-in-each-open-channels-zone.md).

The per-operator table, the totals and the daily chart come from one statement
over the day rollup (:mod:`kpi.rollup`) for every day up to today in each
channel's zone (the rollup is rewritten in the transaction that records the
waits, so today's rows are as current as the records), and over the raw response
records only for days after that (answered from the covering index on
``waiting_since``; none unless a clock is ahead): the additive figures in ``GROUPING SETS``,
the distinct conversations as the rollup's count of conversations answered under
one (channel, operator, day) plus a distinct count over the others' rows, per
operator and in total only. The figures are the same as over the raw records
alone (``use_rollup=False``, tested on random data across DST changes); the
arithmetic matches :func:`kpi.metrics.operator_stats` (tested against it). Both
kinds of rating are read raw in a second statement (decision 0012 says why,
0032 how: the conversations are read only for a subset of channels or of zones). Zones and operator
names are plain rows (no ORM compilation on the page).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Avg, Count, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext

from channels_app.models import (
    ClientRating,
    Conversation,
    Message,
    OpenChannel,
    OperatorProfile,
    compose_display_name,
    operator_display_name,
)
from kpi.metrics import OperatorStats
from kpi.models import KpiConversationDay, KpiDay, ResponseRecord, SupervisorRating
from kpi.rollup import local_day, local_midnight
from kpi.services import unassigned_name

User = get_user_model()

# ``operator`` filter value for waits nobody answered nor held.
UNASSIGNED: Final = "none"
# The ``operator`` filter: a user id, UNASSIGNED, or None for everyone.
OperatorFilter = int | Literal["none"] | None


@dataclass(frozen=True)
class KpiPeriod:
    """Local dates ``first_day``..``last_day`` (inclusive), each open channel's in its own time zone,
    with optional filters.

    ``visible_channel_ids`` are the open channels the viewer supervises (``None``: every channel, for an
    administrator); ``open_channel_id`` narrows to one of them.
    """

    first_day: date
    last_day: date
    open_channel_id: int | None = None
    operator: OperatorFilter = None
    visible_channel_ids: frozenset[int] | None = None

    @property
    def channel_ids(self) -> frozenset[int] | None:
        """The open channels whose figures count (``None``: all of them)."""
        if self.open_channel_id is None:
            return self.visible_channel_ids
        if self.visible_channel_ids is not None and self.open_channel_id not in self.visible_channel_ids:
            return frozenset()
        return frozenset({self.open_channel_id})

    def start(self, zone: tzinfo) -> datetime:
        """The instant the period starts in ``zone`` (an open channel's)."""
        return local_midnight(self.first_day, zone)

    def end(self, zone: tzinfo) -> datetime:
        """The instant the period ends in ``zone``: the midnight after its last day."""
        return local_midnight(self.last_day + timedelta(days=1), zone)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


# Each open channel's id and time zone name, of these channels or (``every``) of all; raw because every KPI
# overview starts with it (plain rows, no ORM compilation).
_CHANNEL_ZONES_SQL = f"""
SELECT id, time_zone FROM {OpenChannel._meta.db_table} WHERE %(every)s OR id = ANY(%(ids)s)
"""  # noqa: S608 -- the table name only; values are parameters


def channel_zones(channel_ids: frozenset[int] | None) -> dict[int, ZoneInfo]:
    """The time zone of each of these open channels (of every one when None)."""
    with connection.cursor() as cursor:
        cursor.execute(_CHANNEL_ZONES_SQL, {"every": channel_ids is None, "ids": sorted(channel_ids or ())})
        return {pk: ZoneInfo(name) for pk, name in cursor.fetchall()}


def period_time_zones(period: KpiPeriod) -> dict[str, list[str]]:
    """The open channels of the period by time zone name (for the page to say whose days it counts)."""
    channels = OpenChannel.objects.order_by("name")
    if period.channel_ids is not None:
        channels = channels.filter(pk__in=period.channel_ids)
    by_zone: dict[str, list[str]] = defaultdict(list)
    for name, zone in channels.values_list("name", "time_zone"):
        by_zone[zone].append(name)
    return dict(sorted(by_zone.items()))


def today_for(zones: dict[int, ZoneInfo], now: datetime) -> date:
    """The last day that has begun in any of these open channels' zones (``now``'s UTC date if none)."""
    return max((local_day(now, zone) for zone in zones.values()), default=now.astimezone(UTC).date())


def _in_period(period: KpiPeriod, zones: dict[int, ZoneInfo], *, at: str, channel: str) -> Q:
    """Rows whose time ``at`` falls in the period in the zone of their open channel ``channel``."""
    ids_by_zone: dict[str, list[int]] = defaultdict(list)
    for channel_id, zone in zones.items():
        ids_by_zone[zone.key].append(channel_id)
    condition = Q(pk__in=[])
    for name, ids in ids_by_zone.items():
        zone = ZoneInfo(name)
        condition |= Q(**{f"{channel}__in": ids, f"{at}__gte": period.start(zone), f"{at}__lt": period.end(zone)})
    return condition


@dataclass
class OperatorRow:
    operator_id: int | None
    name: str
    stats: OperatorStats
    likes: int = 0
    dislikes: int = 0
    supervisor_average: float | None = None
    supervisor_ratings: int = 0

    @property
    def is_unassigned(self) -> bool:
        return self.operator_id is None


@dataclass(frozen=True)
class DayPoint:
    day: date
    responses: int
    average_seconds: float | None
    misses: int


@dataclass
class Overview:
    period: KpiPeriod
    rows: list[OperatorRow]
    totals: OperatorRow
    days: list[DayPoint] = field(default_factory=list)


# ``ch``: the period's open channels, their zones and the first local day read from the raw records
# (tomorrow in that zone; the period's first day to read everything raw). ``raw``: the waits from the cutoff
# on, with the conversation id of an answered one. ``figures``: the additive figures per operator, per
# day (the chart) and in total, from the day rollup before the cutoff and ``raw``, with the conversations
# answered under one (channel, operator, day) only, which add up. ``shared``: the distinct count of the
# other conversations (per operator and in total, not per day: the chart does not show it), over their
# conversation-day rows (a partial index) and ``raw``. ``raw``
# matches its channel's instant range as a range containment, so that the planner scans the covering
# index once over all channels and hashes the channels, rather than once per channel. One statement,
# one round trip.
_OVERVIEW_SQL = """
WITH ch AS (
    SELECT * FROM unnest(%(ids)s::int[], %(zones)s::text[], %(cutoffs)s::date[], %(raw_starts)s::timestamptz[],
                         %(raw_ends)s::timestamptz[]) AS ch(id, zone, cutoff, raw_start, raw_end)
),
raw AS (
    SELECT r.operator_id, (r.waiting_since AT TIME ZONE ch.zone)::date AS day,
           CASE WHEN r.response_seconds IS NOT NULL THEN r.conversation_id END AS conversation_id,
           (r.response_seconds IS NOT NULL)::int AS responses,
           (r.response_seconds IS NOT NULL AND r.kind = 'initial')::int AS initial_responses,
           CASE WHEN r.kind = 'initial' THEN COALESCE(r.response_seconds, 0) ELSE 0 END AS initial_seconds,
           COALESCE(r.response_seconds, 0) AS response_seconds,
           r.response_seconds AS maximum_seconds,
           r.is_miss::int AS misses
    FROM {record_table} r JOIN ch ON ch.id = r.open_channel_id
    WHERE r.waiting_since >= %(raw_from)s AND r.waiting_since < %(raw_until)s
      AND tstzrange(ch.raw_start, ch.raw_end) @> r.waiting_since
),
figures AS (
    SELECT
        GROUPING(u.operator_id) AS by_all_operators,
        GROUPING(u.day) AS by_all_days,
        u.operator_id,
        u.day,
        COALESCE(SUM(u.alone), 0)::bigint AS alone,
        COALESCE(SUM(u.responses), 0)::bigint AS responses,
        COALESCE(SUM(u.initial_responses), 0)::bigint AS initial_responses,
        SUM(u.initial_seconds) AS initial_seconds,
        SUM(u.response_seconds) AS response_seconds,
        MAX(u.maximum_seconds) AS maximum_seconds,
        COALESCE(SUM(u.misses), 0)::bigint AS misses
    FROM (
        SELECT d.operator_id, d.day, d.conversations_only_here AS alone, d.responses, d.initial_responses,
               d.initial_seconds_sum AS initial_seconds, d.response_seconds_sum AS response_seconds,
               d.maximum_seconds, d.misses
        FROM {day_table} d JOIN ch ON ch.id = d.open_channel_id
        WHERE d.day >= %(first)s AND d.day <= %(last)s AND d.day < ch.cutoff
        UNION ALL
        SELECT operator_id, day, 0, responses, initial_responses, initial_seconds, response_seconds,
               maximum_seconds, misses
        FROM raw
    ) u
    GROUP BY GROUPING SETS ((u.operator_id), (u.day), ())
),
shared AS (
    SELECT GROUPING(s.operator_id) AS by_all_operators, s.operator_id,
           COUNT(DISTINCT s.conversation_id) AS conversations
    FROM (
        SELECT m.operator_id, m.conversation_id
        FROM {conversation_day_table} m JOIN ch ON ch.id = m.open_channel_id
        WHERE m.also_elsewhere AND m.day >= %(first)s AND m.day <= %(last)s AND m.day < ch.cutoff
        UNION ALL
        SELECT operator_id, conversation_id FROM raw WHERE conversation_id IS NOT NULL
    ) s
    GROUP BY GROUPING SETS ((s.operator_id), ())
)
SELECT f.by_all_operators, f.by_all_days, f.operator_id, f.day,
       f.alone + COALESCE(s.conversations, 0) AS conversations,
       f.responses, f.initial_responses, f.initial_seconds, f.response_seconds, f.maximum_seconds, f.misses
FROM figures f LEFT JOIN shared s ON f.by_all_days = 1 AND s.by_all_operators = f.by_all_operators
    AND s.operator_id IS NOT DISTINCT FROM f.operator_id
"""


def kpi_overview(period: KpiPeriod, *, now: datetime, use_rollup: bool = True) -> Overview:
    """K3 per-operator table, totals and daily series for the period (R1 and R3 ratings beside).

    Days up to an open channel's local date at ``now`` (today included: recording rewrites the rollup in
    its own transaction) are read from the day rollup, later ones from the response records;
    ``use_rollup=False`` reads every day from the records (the reference the rollup is tested and
    measured against).
    """
    zones = channel_zones(period.channel_ids)
    ids = sorted(zones)
    cutoffs = [local_day(now, zones[pk]) + timedelta(days=1) if use_rollup else period.first_day for pk in ids]
    # Each channel's raw waits as an instant range: from the midnight of its first raw day to the end of the
    # period in its zone (the same local days as the rollup's, without a time zone conversion per record).
    raw_starts = [
        local_midnight(max(period.first_day, cutoff), zones[pk]) for pk, cutoff in zip(ids, cutoffs, strict=True)
    ]
    raw_ends = [period.end(zones[pk]) for pk in ids]
    params: dict[str, Any] = {
        "ids": ids,
        "zones": [zones[pk].key for pk in ids],
        "cutoffs": cutoffs,
        "raw_starts": raw_starts,
        "raw_ends": raw_ends,
        "first": period.first_day,
        "last": period.last_day,
        "raw_from": min(raw_starts, default=now),
        "raw_until": max(raw_ends, default=now),
    }
    sql = _OVERVIEW_SQL.format(
        day_table=KpiDay._meta.db_table,
        conversation_day_table=KpiConversationDay._meta.db_table,
        record_table=ResponseRecord._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()

    stats_by_operator: dict[int | None, OperatorStats] = {}
    totals = _empty_stats(None)
    points: dict[date, DayPoint] = {}
    for all_operators, all_days, operator_id, day, *figures in result:
        if not all_operators:
            stats_by_operator[operator_id] = _stats(operator_id, figures)
        elif not all_days:
            stats = _stats(None, figures)
            points[day] = DayPoint(day, stats.responses, stats.average_seconds, stats.misses)
        else:
            totals = _stats(None, figures)

    likes, supervisor = _ratings(period, zones)
    operator_ids = set(stats_by_operator) | set(likes) | set(supervisor)
    names = _operator_names({pk for pk in operator_ids if pk is not None})
    rows = []
    for operator_id in operator_ids:
        if operator_id is not None and operator_id not in names:
            continue
        row = OperatorRow(
            operator_id=operator_id,
            name=names[operator_id] if operator_id is not None else unassigned_name(),
            stats=stats_by_operator.get(operator_id) or _empty_stats(operator_id),
        )
        row.likes, row.dislikes = likes.get(operator_id, (0, 0))
        row.supervisor_average, row.supervisor_ratings = supervisor.get(operator_id, (None, 0))
        rows.append(row)
    rows.sort(key=lambda row: (row.is_unassigned, row.name.casefold()))

    total_row = OperatorRow(operator_id=None, name=gettext("All operators"), stats=totals)
    total_row.likes = sum(row.likes for row in rows)
    total_row.dislikes = sum(row.dislikes for row in rows)
    total_row.supervisor_ratings = sum(row.supervisor_ratings for row in rows)
    if total_row.supervisor_ratings:
        total_row.supervisor_average = (
            sum((row.supervisor_average or 0) * row.supervisor_ratings for row in rows) / total_row.supervisor_ratings
        )
    days = [points.get(day) or DayPoint(day, 0, None, 0) for day in period.days]
    return Overview(period=period, rows=rows, totals=total_row, days=days)


# The users' id and the parts of their display name (compose_display_name), profile or not; raw because every
# overview reads its operators (plain rows instead of user and profile instances).
_OPERATOR_NAMES_SQL = f"""
SELECT u.id, p.display_name, u.first_name, u.last_name, u.{User.USERNAME_FIELD}
FROM {User._meta.db_table} u LEFT JOIN {OperatorProfile._meta.db_table} p ON p.user_id = u.id
WHERE u.id = ANY(%(ids)s)
"""  # noqa: S608 -- table and column names only; values are parameters


def _operator_names(operator_ids: set[int]) -> dict[int, str]:
    """The display name of each of these users that exists."""
    if not operator_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_OPERATOR_NAMES_SQL, {"ids": sorted(operator_ids)})
        return {
            pk: compose_display_name(profile_name=profile_name, first_name=first, last_name=last, username=username)
            for pk, profile_name, first, last, username in cursor.fetchall()
        }


def _stats(operator_id: int | None, figures) -> OperatorStats:
    conversations, responses, initial_responses, initial_seconds, response_seconds, maximum, misses = figures
    return OperatorStats(
        operator_id=operator_id,
        conversations=conversations,
        responses=responses,
        initial_average_seconds=initial_seconds / initial_responses if initial_responses else None,
        average_seconds=response_seconds / responses if responses else None,
        maximum_seconds=maximum,
        total_seconds=float(response_seconds or 0),
        misses=misses,
    )


def _empty_stats(operator_id: int | None) -> OperatorStats:
    return OperatorStats(operator_id, 0, 0, None, None, None, 0.0, 0)


# R1 and R3 in one statement: both kinds of rating of the period, each on the local day of its conversation's
# open channel (the rating tables hold no channel of their own), per operator. ``{channels}`` narrows to the
# period's open channels and ``{days}`` to their local days:
# - every open channel, one zone: neither depends on the conversation; the instant range is the period exactly,
#   and the conversations are not read at all;
# - some open channels, one zone: the instant range is still exact, and each rating's conversation is looked
#   up by its key for its channel (a few thousand index probes, not a scan of every conversation);
# - open channels of several zones: joined to the conversations for each one's zone, local days per row.
_RATINGS_IN_CHANNELS = """
WHERE EXISTS (
    SELECT FROM {conversation_table} c WHERE c.id = x.conversation_id AND c.open_channel_id = ANY(%(ids)s)
)
"""
_RATINGS_IN_ZONES = """
JOIN {conversation_table} c ON c.id = x.conversation_id
JOIN ch ON ch.id = c.open_channel_id
WHERE (x.at AT TIME ZONE ch.zone)::date BETWEEN %(first)s AND %(last)s
"""
_RATINGS_SQL = """
WITH ch AS (SELECT * FROM unnest(%(ids)s::int[], %(zones)s::text[]) AS ch(id, zone))
SELECT x.operator_id,
       COUNT(*) FILTER (WHERE x.value = 'like') AS likes,
       COUNT(*) FILTER (WHERE x.value = 'dislike') AS dislikes,
       AVG(x.score) AS supervisor_average,
       COUNT(x.score) AS supervisor_ratings
FROM (
    SELECT conversation_id, operator_id, rated_at AS at, value, NULL::int AS score FROM {client_table}
    WHERE rated_at >= %(start)s AND rated_at < %(end)s
    UNION ALL
    SELECT conversation_id, operator_id, created_at, NULL, score FROM {supervisor_table}
    WHERE created_at >= %(start)s AND created_at < %(end)s
) x
{where}
GROUP BY x.operator_id
"""


def _ratings(
    period: KpiPeriod, zones: dict[int, ZoneInfo]
) -> tuple[dict[int | None, tuple[int, int]], dict[int | None, tuple[float, int]]]:
    """R1 likes and dislikes, and R3 average score and number of ratings, per operator."""
    if not zones:
        return {}, {}
    ids = sorted(zones)
    zone_names = {zone.key for zone in zones.values()}
    if len(zone_names) > 1:
        where = _RATINGS_IN_ZONES
    elif period.channel_ids is not None:
        where = _RATINGS_IN_CHANNELS
    else:
        where = ""
    sql = _RATINGS_SQL.format(
        client_table=ClientRating._meta.db_table,
        supervisor_table=SupervisorRating._meta.db_table,
        where=where.format(conversation_table=Conversation._meta.db_table),
    )
    params: dict[str, Any] = {
        "ids": ids,
        "zones": [zones[pk].key for pk in ids],
        "first": period.first_day,
        "last": period.last_day,
        "start": min(period.start(zone) for zone in zones.values()),
        "end": max(period.end(zone) for zone in zones.values()),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    client = {operator_id: (likes, dislikes) for operator_id, likes, dislikes, _, _ in result if likes or dislikes}
    supervisor = {operator_id: (float(average), count) for operator_id, _, _, average, count in result if count}
    return client, supervisor


# --- O2: drill-down ------------------------------------------------------------------------------------


def period_records(period: KpiPeriod) -> QuerySet[ResponseRecord]:
    """The waits of the period (each on its open channel's local days) and filters."""
    zones = channel_zones(period.channel_ids)
    records = ResponseRecord.objects.filter(_in_period(period, zones, at="waiting_since", channel="open_channel_id"))
    if period.operator == UNASSIGNED:
        records = records.filter(operator__isnull=True)
    elif period.operator is not None:
        records = records.filter(operator_id=period.operator)
    return records


def kpi_conversations(period: KpiPeriod) -> QuerySet[Conversation]:
    """Conversations with a wait in the period (and filters), newest first, with their response figures."""
    supervisor_average = (
        SupervisorRating.objects.filter(conversation=OuterRef("pk"))
        .values("conversation")
        .annotate(average=Avg("score"))
        .values("average")
    )
    return (
        Conversation.objects.filter(pk__in=period_records(period).values("conversation_id"))
        .select_related("client", "open_channel", "operator", "operator__operator_profile", "client_rating")
        .annotate(
            initial_seconds=Min("response_records__response_seconds", filter=Q(response_records__kind="initial")),
            average_seconds=Avg("response_records__response_seconds"),
            maximum_seconds=Max("response_records__response_seconds"),
            responses=Count("response_records__response_seconds"),
            misses=Count("response_records", filter=Q(response_records__is_miss=True)),
            supervisor_average=Subquery(supervisor_average),
        )
        .order_by("-created_at", "-pk")
    )


@dataclass
class Transcript:
    conversation: Conversation
    messages: list[Message]
    records: list[ResponseRecord]
    supervisor_ratings: list[SupervisorRating]
    client_rating: ClientRating | None
    operator_name: str


def conversation_transcript(conversation_id: int) -> Transcript | None:
    """O2: a conversation's whole log with its response records and ratings; None if it does not exist."""
    conversation = (
        Conversation.objects.select_related(
            "client", "open_channel", "connector", "operator__operator_profile", "first_operator__operator_profile"
        )
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        return None
    messages = list(
        Message.objects.filter(conversation=conversation)
        .select_related("author__operator_profile")
        .prefetch_related("attachments")
        .order_by("created_at", "pk")
    )
    records = list(
        ResponseRecord.objects.filter(conversation=conversation)
        .select_related("operator__operator_profile", "miss")
        .order_by("waiting_since", "pk")
    )
    ratings = list(
        SupervisorRating.objects.filter(conversation=conversation)
        .select_related("supervisor", "operator__operator_profile")
        .order_by("-created_at")
    )
    client_rating = ClientRating.objects.filter(conversation=conversation).first()
    handler = conversation.operator or conversation.first_operator
    return Transcript(
        conversation=conversation,
        messages=messages,
        records=records,
        supervisor_ratings=ratings,
        client_rating=client_rating,
        operator_name=operator_display_name(handler) if handler else unassigned_name(),
    )


def operator_choices(period: KpiPeriod) -> list[tuple[int, str]]:
    """Users who answered or held a wait in the period (any operator filter aside), for the drill-down filter."""
    everyone = KpiPeriod(
        period.first_day,
        period.last_day,
        open_channel_id=period.open_channel_id,
        visible_channel_ids=period.visible_channel_ids,
    )
    ids = period_records(everyone).filter(operator__isnull=False).values("operator_id").distinct()
    users = User.objects.filter(pk__in=ids).select_related("operator_profile")
    return sorted(((user.pk, operator_display_name(user)) for user in users), key=lambda pair: pair[1].casefold())

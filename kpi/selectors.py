"""KPI reads (K3, R1, R3, O2): the supervisor pages' queries.

The per-operator table, the totals and the daily chart come from one
aggregate over the period's response records (``GROUPING SETS``), answered
from the covering index on ``waiting_since``; ratings are two small
aggregates. The arithmetic matches :func:`kpi.metrics.operator_stats`
(tested against it).

A wait belongs to the period in which the client started waiting; client
ratings to the period in which they were given, supervisor ratings to the
period of their latest change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Final, Literal

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Avg, Count, Max, Min, OuterRef, Q, QuerySet, Subquery

from channels_app.models import ClientRating, Conversation, Message, operator_display_name
from kpi.metrics import OperatorStats
from kpi.models import ResponseRecord, SupervisorRating
from kpi.services import UNASSIGNED_NAME

User = get_user_model()

# ``operator`` filter value for waits nobody answered nor held.
UNASSIGNED: Final = "none"
# The ``operator`` filter: a user id, UNASSIGNED, or None for everyone.
OperatorFilter = int | Literal["none"] | None


@dataclass(frozen=True)
class KpiPeriod:
    """Local dates ``first_day``..``last_day`` (inclusive) in ``zone``, with optional filters.

    ``visible_channel_ids`` are the open channels the viewer supervises (``None``: every channel, for an
    administrator); ``open_channel_id`` narrows to one of them.
    """

    first_day: date
    last_day: date
    zone: tzinfo
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

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time(), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), datetime.min.time(), tzinfo=self.zone)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


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


_OVERVIEW_SQL = """
SELECT
    GROUPING(r.operator_id) AS by_all_operators,
    GROUPING((r.waiting_since AT TIME ZONE %(zone)s)::date) AS by_all_days,
    r.operator_id,
    (r.waiting_since AT TIME ZONE %(zone)s)::date AS day,
    COUNT(DISTINCT r.conversation_id) FILTER (WHERE r.response_seconds IS NOT NULL) AS conversations,
    COUNT(r.response_seconds) AS responses,
    AVG(r.response_seconds) FILTER (WHERE r.kind = 'initial') AS initial_average,
    AVG(r.response_seconds) AS average,
    MAX(r.response_seconds) AS maximum,
    COALESCE(SUM(r.response_seconds), 0) AS total,
    COUNT(*) FILTER (WHERE r.is_miss) AS misses
FROM {table} r
WHERE r.waiting_since >= %(start)s AND r.waiting_since < %(end)s {channel_filter}
GROUP BY GROUPING SETS ((r.operator_id), ((r.waiting_since AT TIME ZONE %(zone)s)::date), ())
"""


def kpi_overview(period: KpiPeriod) -> Overview:
    """K3 per-operator table, totals and daily series for the period (R1 and R3 ratings beside)."""
    params: dict[str, str | datetime | list[int]] = {
        "zone": str(period.zone),
        "start": period.start,
        "end": period.end,
    }
    channel_filter = ""
    if period.channel_ids is not None:
        channel_filter = "AND r.open_channel_id = ANY(%(channels)s)"
        params["channels"] = sorted(period.channel_ids)
    sql = _OVERVIEW_SQL.format(table=ResponseRecord._meta.db_table, channel_filter=channel_filter)
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

    likes = _client_ratings(period)
    supervisor = _supervisor_ratings(period)
    operator_ids = set(stats_by_operator) | set(likes) | set(supervisor)
    users = {
        user.pk: user for user in User.objects.filter(pk__in=operator_ids - {None}).select_related("operator_profile")
    }
    rows = []
    for operator_id in operator_ids:
        if operator_id is not None and operator_id not in users:
            continue
        row = OperatorRow(
            operator_id=operator_id,
            name=operator_display_name(users[operator_id]) if operator_id is not None else UNASSIGNED_NAME,
            stats=stats_by_operator.get(operator_id) or _empty_stats(operator_id),
        )
        row.likes, row.dislikes = likes.get(operator_id, (0, 0))
        row.supervisor_average, row.supervisor_ratings = supervisor.get(operator_id, (None, 0))
        rows.append(row)
    rows.sort(key=lambda row: (row.is_unassigned, row.name.casefold()))

    total_row = OperatorRow(operator_id=None, name="All operators", stats=totals)
    total_row.likes = sum(row.likes for row in rows)
    total_row.dislikes = sum(row.dislikes for row in rows)
    total_row.supervisor_ratings = sum(row.supervisor_ratings for row in rows)
    if total_row.supervisor_ratings:
        total_row.supervisor_average = (
            sum((row.supervisor_average or 0) * row.supervisor_ratings for row in rows) / total_row.supervisor_ratings
        )
    days = [points.get(day) or DayPoint(day, 0, None, 0) for day in period.days]
    return Overview(period=period, rows=rows, totals=total_row, days=days)


def _stats(operator_id: int | None, figures) -> OperatorStats:
    conversations, responses, initial_average, average, maximum, total, misses = figures
    return OperatorStats(
        operator_id=operator_id,
        conversations=conversations,
        responses=responses,
        initial_average_seconds=initial_average,
        average_seconds=average,
        maximum_seconds=maximum,
        total_seconds=float(total),
        misses=misses,
    )


def _empty_stats(operator_id: int | None) -> OperatorStats:
    return OperatorStats(operator_id, 0, 0, None, None, None, 0.0, 0)


def _client_ratings(period: KpiPeriod) -> dict[int | None, tuple[int, int]]:
    """R1: likes and dislikes per operator."""
    ratings = ClientRating.objects.filter(rated_at__gte=period.start, rated_at__lt=period.end)
    if period.channel_ids is not None:
        ratings = ratings.filter(conversation__open_channel_id__in=period.channel_ids)
    return {
        row["operator_id"]: (row["likes"], row["dislikes"])
        for row in ratings.values("operator_id").annotate(
            likes=Count("pk", filter=Q(value=ClientRating.Value.LIKE)),
            dislikes=Count("pk", filter=Q(value=ClientRating.Value.DISLIKE)),
        )
    }


def _supervisor_ratings(period: KpiPeriod) -> dict[int | None, tuple[float, int]]:
    """R3: average score and number of ratings per operator."""
    ratings = SupervisorRating.objects.filter(created_at__gte=period.start, created_at__lt=period.end)
    if period.channel_ids is not None:
        ratings = ratings.filter(conversation__open_channel_id__in=period.channel_ids)
    return {
        row["operator_id"]: (row["average"], row["count"])
        for row in ratings.values("operator_id").annotate(average=Avg("score"), count=Count("pk"))
    }


# --- O2: drill-down ------------------------------------------------------------------------------------


def period_records(period: KpiPeriod) -> QuerySet[ResponseRecord]:
    records = ResponseRecord.objects.filter(waiting_since__gte=period.start, waiting_since__lt=period.end)
    if period.channel_ids is not None:
        records = records.filter(open_channel_id__in=period.channel_ids)
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
        operator_name=operator_display_name(handler) if handler else UNASSIGNED_NAME,
    )


def operator_choices(period: KpiPeriod) -> list[tuple[int, str]]:
    """Users who answered or held a wait in the period (any operator filter aside), for the drill-down filter."""
    everyone = KpiPeriod(
        period.first_day,
        period.last_day,
        period.zone,
        open_channel_id=period.open_channel_id,
        visible_channel_ids=period.visible_channel_ids,
    )
    ids = period_records(everyone).filter(operator__isnull=False).values("operator_id").distinct()
    users = User.objects.filter(pk__in=ids).select_related("operator_profile")
    return sorted(((user.pk, operator_display_name(user)) for user in users), key=lambda pair: pair[1].casefold())

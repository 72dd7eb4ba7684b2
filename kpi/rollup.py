"""The KPI day rollup (K3 over long periods): keeping :class:`~kpi.models.KpiDay` and
:class:`~kpi.models.KpiConversationDay` equal to what the response records say.

Not a service: these functions run inside the transaction of the service that changed the records
(:mod:`kpi.services`), which decides when. A day is the open channel's local day
(``OpenChannel.time_zone``), the same day the K3 page buckets a wait into.

Why the figures stay exact under concurrent recording (PostgreSQL, READ COMMITTED):

- ``KpiConversationDay`` rows belong to one conversation, and the caller holds that conversation's row
  lock: they are deleted and rewritten from its records, nobody else writes them.
- A ``KpiDay`` row is shared by many conversations. :func:`refresh` first locks every row it will
  rewrite, in one statement and in key order (open channel, operator with nobody first, day), creating
  missing rows on the way, and only then recomputes them from the response records in a new statement.
  That statement sees every transaction that locked the rows before us as committed, and one that
  changes records of the same day after us waits for our lock and recomputes after our commit; so no
  change is lost, and two refreshes never lock two rows in opposite orders.
- ``KpiDay.conversations_only_here`` counts other conversations' rows: a refresh writes its
  conversations' rows first and then recounts every key they had before or have after under the row
  lock above, so whoever recounts last sees every committed row of that key.
- :func:`rebuild` locks both tables (conversation days first, the same order recording writes them).
"""

# Every statement below is built from the models' table names only; values always travel as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, tzinfo
from typing import Any

from django.db import connection

from channels_app.models import OpenChannel
from kpi.models import KpiConversationDay, KpiDay, ResponseRecord

# (open channel id, operator id or None, local day)
DayKey = tuple[int, int | None, date]

_DAY = KpiDay._meta.db_table
_CONVERSATION_DAY = KpiConversationDay._meta.db_table
_RECORD = ResponseRecord._meta.db_table
_CHANNEL = OpenChannel._meta.db_table

# The figures of one (open channel, operator, local day) from its response records; ``k`` names the keys.
_FIGURES = """
    COUNT(r.id) AS waits,
    COUNT(r.response_seconds) AS responses,
    COALESCE(SUM(r.response_seconds), 0) AS response_seconds_sum,
    COUNT(r.response_seconds) FILTER (WHERE r.kind = 'initial') AS initial_responses,
    COALESCE(SUM(r.response_seconds) FILTER (WHERE r.kind = 'initial'), 0) AS initial_seconds_sum,
    MAX(r.response_seconds) AS maximum_seconds,
    COUNT(r.id) FILTER (WHERE r.is_miss) AS misses
"""
# Each conversation's (open channel, operator, local day) of its answered waits, with whether it has
# more than one; ``{where}`` picks the records.
_CONVERSATION_DAYS = f"""
    SELECT conversation_id, open_channel_id, operator_id, day, COUNT(*) OVER (PARTITION BY conversation_id) > 1
    FROM (
        SELECT DISTINCT r.conversation_id, r.open_channel_id, r.operator_id,
               (r.waiting_since AT TIME ZONE c.time_zone)::date AS day
        FROM {_RECORD} r JOIN {_CHANNEL} c ON c.id = r.open_channel_id
        WHERE r.response_seconds IS NOT NULL AND {{where}}
    ) answered
"""
_COLUMNS = "waits, responses, response_seconds_sum, initial_responses, initial_seconds_sum, maximum_seconds, misses"


def local_day(at: datetime, zone: tzinfo) -> date:
    """The day ``at`` falls on in ``zone`` (an open channel's time zone)."""
    return at.astimezone(zone).date()


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The moment ``day`` begins in ``zone``."""
    return datetime.combine(day, datetime.min.time(), tzinfo=zone)


def refresh(*, keys: Iterable[DayKey], conversation_ids: Iterable[int]) -> None:
    """Rewrite the rollup after recording changed response records; in the caller's transaction.

    ``conversation_ids``: conversations whose records changed (the caller holds their row locks);
    ``keys``: every (open channel, operator, local day) a changed record belonged to before or after
    the change. Running it again changes nothing.
    """
    conversation_ids = sorted(set(conversation_ids))
    keys = set(keys)
    with connection.cursor() as cursor:
        if conversation_ids:
            # A conversation's rows, and whether it was answered under one key only, may change without
            # any of its records moving day (a new record on another day): their keys, before and after,
            # are recounted too.
            cursor.execute(
                f"DELETE FROM {_CONVERSATION_DAY} WHERE conversation_id = ANY(%s)"
                " RETURNING open_channel_id, operator_id, day",
                [conversation_ids],
            )
            keys.update(cursor.fetchall())
            cursor.execute(
                f"""
                INSERT INTO {_CONVERSATION_DAY} (conversation_id, open_channel_id, operator_id, day, also_elsewhere)
                {_CONVERSATION_DAYS.format(where="r.conversation_id = ANY(%s)")}
                RETURNING open_channel_id, operator_id, day
                """,
                [conversation_ids],
            )
            keys.update(cursor.fetchall())
        ordered = sorted(keys, key=lambda key: (key[0], key[1] is not None, key[1] or 0, key[2]))
        if not ordered:
            return
        params: dict[str, Any] = {
            "channels": [key[0] for key in ordered],
            "operators": [key[1] for key in ordered],
            "days": [key[2] for key in ordered],
        }
        keys_sql = (
            "unnest(%(channels)s::int[], %(operators)s::int[], %(days)s::date[])"
            " WITH ORDINALITY AS k(channel, operator, day, position)"
        )
        # 1. Lock (creating if missing) every row, in key order, in one statement.
        cursor.execute(
            f"""
            INSERT INTO {_DAY} (open_channel_id, operator_id, day, {_COLUMNS}, conversations_only_here)
            SELECT k.channel, k.operator, k.day, 0, 0, 0, 0, 0, NULL, 0, 0 FROM {keys_sql} ORDER BY k.position
            ON CONFLICT (open_channel_id, operator_id, day) DO UPDATE SET waits = {_DAY}.waits
            """,
            params,
        )
        # 2. Recompute them from the records (a new statement: it sees whoever held the locks before us).
        cursor.execute(
            f"""
            UPDATE {_DAY} d SET
                waits = a.waits, responses = a.responses, response_seconds_sum = a.response_seconds_sum,
                initial_responses = a.initial_responses, initial_seconds_sum = a.initial_seconds_sum,
                maximum_seconds = a.maximum_seconds, misses = a.misses,
                conversations_only_here = (
                    SELECT COUNT(*) FROM {_CONVERSATION_DAY} m
                    WHERE m.day = d.day AND m.open_channel_id = d.open_channel_id
                        AND m.operator_id IS NOT DISTINCT FROM d.operator_id AND NOT m.also_elsewhere
                )
            FROM (
                SELECT k.channel, k.operator, k.day, {_FIGURES}
                FROM {keys_sql}
                JOIN {_CHANNEL} c ON c.id = k.channel
                LEFT JOIN {_RECORD} r ON r.open_channel_id = k.channel
                    AND r.operator_id IS NOT DISTINCT FROM k.operator
                    AND r.waiting_since >= (k.day::timestamp AT TIME ZONE c.time_zone)
                    AND r.waiting_since < ((k.day + 1)::timestamp AT TIME ZONE c.time_zone)
                GROUP BY k.channel, k.operator, k.day
            ) a
            WHERE d.open_channel_id = a.channel AND d.operator_id IS NOT DISTINCT FROM a.operator AND d.day = a.day
            """,
            params,
        )
        cursor.execute(
            f"""
            DELETE FROM {_DAY} d USING {keys_sql}
            WHERE d.open_channel_id = k.channel AND d.operator_id IS NOT DISTINCT FROM k.operator
                AND d.day = k.day AND d.waits = 0
            """,
            params,
        )


def rebuild(*, from_day: date | None = None) -> tuple[int, int]:
    """Recompute the rollup from the response records, for local days from ``from_day`` (all when None).

    In the caller's transaction; returns (day rows, conversation-day rows) written. Idempotent.
    Also the way to follow a change of an open channel's time zone, which moves its local days.
    """
    since = "TRUE"
    params: dict[str, date] = {}
    if from_day is not None:
        since = "r.waiting_since >= (%(from_day)s::timestamp AT TIME ZONE c.time_zone)"
        params["from_day"] = from_day
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_CONVERSATION_DAY}, {_DAY} IN SHARE ROW EXCLUSIVE MODE")
        day_filter = "TRUE" if from_day is None else "day >= %(from_day)s"
        cursor.execute(f"DELETE FROM {_DAY} WHERE {day_filter}", params)
        cursor.execute(f"DELETE FROM {_CONVERSATION_DAY} WHERE {day_filter}", params)
        cursor.execute(
            f"""
            INSERT INTO {_DAY} (open_channel_id, operator_id, day, {_COLUMNS}, conversations_only_here)
            SELECT r.open_channel_id, r.operator_id, (r.waiting_since AT TIME ZONE c.time_zone)::date, {_FIGURES}, 0
            FROM {_RECORD} r JOIN {_CHANNEL} c ON c.id = r.open_channel_id
            WHERE {since}
            GROUP BY 1, 2, 3
            """,
            params,
        )
        days = cursor.rowcount
        cursor.execute(
            f"""
            INSERT INTO {_CONVERSATION_DAY} (conversation_id, open_channel_id, operator_id, day, also_elsewhere)
            {_CONVERSATION_DAYS.format(where=since)}
            """,
            params,
        )
        conversation_days = cursor.rowcount
        # A conversation answered before ``from_day`` too has rows that were kept: its flag and the counts
        # of alone conversations are settled over the whole tables.
        cursor.execute(
            f"""
            UPDATE {_CONVERSATION_DAY} m SET also_elsewhere = s.keys > 1
            FROM (SELECT conversation_id, COUNT(*) AS keys FROM {_CONVERSATION_DAY} GROUP BY conversation_id) s
            WHERE s.conversation_id = m.conversation_id AND m.also_elsewhere <> (s.keys > 1)
            """
        )
        cursor.execute(
            f"""
            UPDATE {_DAY} d SET conversations_only_here = COALESCE(s.alone, 0)
            FROM {_DAY} dd LEFT JOIN (
                SELECT open_channel_id, operator_id, day, COUNT(*) AS alone FROM {_CONVERSATION_DAY}
                WHERE NOT also_elsewhere GROUP BY 1, 2, 3
            ) s ON s.open_channel_id = dd.open_channel_id AND s.operator_id IS NOT DISTINCT FROM dd.operator_id
                AND s.day = dd.day
            WHERE dd.id = d.id AND d.conversations_only_here <> COALESCE(s.alone, 0)
            """
        )
        return days, conversation_days

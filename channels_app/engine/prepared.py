"""Hot-path statements run as server-side prepared statements: planned once per connection, not per call.

Django's PostgreSQL backend binds parameters on the client unless ``OPTIONS["server_side_binding"]`` is on, and
psycopg prepares only server-side bound queries; routing's snapshot took PostgreSQL longer to plan than to run
(issue 17). These helpers run one statement on a server-side binding psycopg cursor of Django's own connection,
with ``prepare=True``, so they share its transaction, whatever the global option says. Django turns psycopg's
statement preparation off (``prepare_threshold`` None) unless ``OPTIONS`` names a threshold; the settings name
one so high that only these explicit statements are ever prepared (decision 0030). Errors come out as Django's
database errors, and the statement is logged like any other while queries are being logged (tests, ``DEBUG``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import psycopg
from django.db import connection
from django.utils.asyncio import async_unsafe

# Values bound by name (%(name)s) or by position (%s).
Params = Mapping[str, object] | Sequence[object]


def fetchone(sql: str, params: Params) -> tuple | None:
    """Run ``sql`` (a module constant, every value bound) prepared, and return its first row."""
    return _run(sql, params, many=False)


def fetchrow(sql: str, params: Params) -> tuple:
    """:func:`fetchone` of a statement that always returns one row (aggregates without ``GROUP BY``)."""
    row = _run(sql, params, many=False)
    if row is None:
        raise LookupError("the statement returned no row")
    return row


def execute(sql: str, params: Params) -> int:
    """Run ``sql`` (a module constant, every value bound) prepared, for its effect; returns the rows it touched."""
    return _run(sql, params, many=None)


def fetchall(sql: str, params: Params) -> list[tuple]:
    """Run ``sql`` (a module constant, every value bound) prepared, and return its rows."""
    return _run(sql, params, many=True)


@async_unsafe
def _run(sql: str, params: Params, *, many: bool | None):
    """What Django's cursor does around a statement: connect, refuse to run in a broken atomic block, convert errors."""
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    started = time.monotonic()
    with connection.wrap_database_errors, psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        result = cursor.rowcount if many is None else cursor.fetchall() if many else cursor.fetchone()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return result

"""Model instances from rows of raw SQL, for the hot paths that skip the ORM's query compiler.

Compiling a queryset (joins, column lists, quoting) costs the message path more CPU than PostgreSQL spends
running the statement (bench/inbound.py, decision 0033). :class:`Columns` does once, per model, what the
compiler does per query: the column list of a table alias, and the conversion of a row's values (an
encrypted field's decryption, a JSON field's parsing) into an instance, exactly as ``Model.objects`` builds
it, with the fields left out deferred (read on access, as ``.defer()`` would); and :meth:`Columns.insert` /
:meth:`Columns.update` write an instance's values prepared as ``save()`` prepares them (no model signals are
sent: use them only for models no receiver listens to).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connections, models

M = TypeVar("M", bound=models.Model)


class Columns(Generic[M]):
    """The concrete columns of ``model`` but ``leave_out`` (attribute names), read and turned into instances."""

    def __init__(self, model: type[M], *, leave_out: Sequence[str] = ()) -> None:
        self.model = model
        # Any: django-stubs types a concrete field as the Field union, which lacks the methods used below.
        self.fields: list[Any] = [field for field in model._meta.concrete_fields if field.attname not in leave_out]
        self._by_name: dict[str, Any] = {}
        for field in model._meta.concrete_fields:
            self._by_name[field.name] = self._by_name[field.attname] = field
        self.attnames = [field.attname for field in self.fields]
        self._insert_sql: str | None = None
        self._insert_fields: list[Any] = []
        self._update_sql: dict[tuple[str, ...], str] = {}
        self._converters: dict[str, list[tuple[int, list[Callable[..., Any]], Any]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self, alias: str) -> str:
        """``alias."col", alias."col2", …`` in the model's field order (the order :meth:`instance` reads)."""
        return ", ".join(f'{alias}."{field.column}"' for field in self.fields)

    def instance(self, row: Sequence[Any], start: int = 0, using: str = "default") -> M:
        """The instance whose values are ``row[start : start + len(self)]``, as the ORM would have built it."""
        values = list(row[start : start + len(self.fields)])
        for index, converters, expression in self._converters_for(using):
            value = values[index]
            for converter in converters:
                value = converter(value, expression, connections[using])
            values[index] = value
        return self.model.from_db(using, self.attnames, values)

    def insert(self, instance: M, using: str = "default") -> None:
        """``INSERT`` the instance (every column but an auto primary key) and set its primary key, as ``save()``
        does for a new row."""
        connection = connections[using]
        if self._insert_sql is None:
            self._insert_fields = [field for field in self.model._meta.local_concrete_fields if not field.primary_key]
            names = ", ".join(f'"{field.column}"' for field in self._insert_fields)
            holders = ", ".join(["%s"] * len(self._insert_fields))
            table, pk = self.model._meta.db_table, self.model._meta.pk.column
            # Names from the model, values bound.
            self._insert_sql = f'INSERT INTO "{table}" ({names}) VALUES ({holders}) RETURNING "{pk}"'  # noqa: S608
        values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in self._insert_fields]
        with connection.cursor() as cursor:
            cursor.execute(self._insert_sql, values)
            instance.pk = cursor.fetchone()[0]
        instance._state.adding = False
        instance._state.db = using

    def update(self, instance: M, fields: Sequence[str], using: str = "default") -> None:
        """``UPDATE`` the instance's row with the current values of ``fields`` (field or attribute names), as
        ``save(update_fields=fields)`` does."""
        connection = connections[using]
        key = tuple(fields)
        sql = self._update_sql.get(key)
        meta = self.model._meta
        if sql is None:
            columns = ", ".join(f'"{self._by_name[name].column}" = %s' for name in fields)
            # Names from the model, values bound.
            sql = f'UPDATE "{meta.db_table}" SET {columns} WHERE "{meta.pk.column}" = %s'  # noqa: S608
            self._update_sql[key] = sql
        values = []
        for name in fields:
            field = self._by_name[name]
            values.append(field.get_db_prep_save(field.pre_save(instance, False), connection))
        with connection.cursor() as cursor:
            cursor.execute(sql, [*values, instance.pk])

    def _converters_for(self, using: str) -> list[tuple[int, list[Callable[..., Any]], Any]]:
        found = self._converters.get(using)
        if found is None:
            connection = connections[using]
            found = []
            for index, field in enumerate(self.fields):
                expression = field.cached_col
                converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
                if converters:
                    found.append((index, converters, expression))
            self._converters[using] = found
        return found

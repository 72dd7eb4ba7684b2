"""``manage.py kpi_rollup_rebuild [--from DATE]``: recompute the K3 day rollup from the response records."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kpi.services import kpi_rollup_rebuild


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--from takes a date as YYYY-MM-DD, not {value!r}.") from error


class Command(BaseCommand):
    help = (
        "Recompute the KPI day rollup (per open channel, operator and local day) from the response records. "
        "Safe to run at any time and again; needed after an open channel's time zone changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="from_day", type=str, default=None, help="first local day to rebuild (YYYY-MM-DD)"
        )

    def handle(self, *args, from_day: str | None = None, **options) -> None:
        first = _day(from_day) if from_day else None
        days, conversation_days = kpi_rollup_rebuild(from_day=first)
        since = f" from {first.isoformat()}" if first else ""
        self.stdout.write(f"Rebuilt the KPI rollup{since}: {days} day rows, {conversation_days} conversation-day rows.")

"""Response-time arithmetic (K1–K3): pure, no ORM, no clock.

A *wait* starts when a client writes while no operator reply is owed, and
ends at the next operator message (a *response*, attributed to the operator
who wrote it, whoever held the conversation before a transfer) or when the
conversation is closed without a reply. Further client messages during a wait
do not start a new one: the client has been waiting since the first. Bot and
system messages neither start nor end a wait.

The first wait of a conversation is its *initial* response (K1) when no
operator wrote before it; every later one is a *subsequent* response. A
client who writes after a close starts a new conversation in this product, so
"reopened" enquiries get their own initial response instead of inheriting
the old conversation's clock; a reply after a long gap is simply a long
response.

Time is counted either on the wall clock or, with the open channel's
"working hours only" option, only inside its working-hours calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from channels_app.policy.schedule import WorkingCalendar, next_closing, next_opening, open_seconds_between

CLIENT = "client"
OPERATOR = "operator"


class ResponseKind(StrEnum):
    INITIAL = "initial"
    SUBSEQUENT = "subsequent"


@dataclass(frozen=True)
class MessageFact:
    """The facts about one message that response times depend on."""

    id: int
    author_kind: str  # "client", "operator", "bot" or "system"
    at: datetime
    operator_id: int | None = None


@dataclass(frozen=True)
class Wait:
    """One client wait for an operator, as found in a conversation's messages."""

    kind: ResponseKind
    client_message_id: int  # the message that started the wait
    waiting_since: datetime
    response_message_id: int | None = None
    operator_id: int | None = None  # who answered
    responded_at: datetime | None = None
    closed_unanswered_at: datetime | None = None

    @property
    def ended_at(self) -> datetime | None:
        return self.responded_at or self.closed_unanswered_at


@dataclass(frozen=True)
class ResponseRules:
    """How one wait is measured: the target (None: no target) and the clock it is counted on."""

    target_seconds: int | None = None
    working_hours_only: bool = False
    calendar: WorkingCalendar | None = None


@dataclass(frozen=True)
class Measurement:
    response_seconds: float | None  # None while unanswered or when closed without a reply
    due_at: datetime | None  # when the counted time reaches the target; None without a target or never
    is_miss: bool


def conversation_waits(
    messages: Iterable[MessageFact],
    *,
    closed_at: datetime | None = None,
    answerable_from: datetime | None = None,
) -> list[Wait]:
    """Split a conversation's messages into client waits (K1).

    ``closed_at`` is the close of a conversation that is closed now: it ends
    an open wait without a response, and client messages from then on start
    none. ``answerable_from`` is when operators could first answer (the bot's
    hand-over, B1): waits opened earlier count from then.

    1. Order messages by time, then id.
    2. Ignore bot and system messages, and everything from ``closed_at`` on.
    3. A client message with no wait open starts one (initial if no operator
       has written yet and it is the first wait).
    4. An operator message ends the open wait as its response.
    5. A wait still open at ``closed_at`` ends there, unanswered.
    """
    ordered = sorted(messages, key=lambda message: (message.at, message.id))
    waits: list[Wait] = []
    open_wait: Wait | None = None
    operator_has_written = False
    for message in ordered:
        if closed_at is not None and message.at >= closed_at:
            break
        if message.author_kind == CLIENT:
            if open_wait is None:
                kind = ResponseKind.INITIAL if not waits and not operator_has_written else ResponseKind.SUBSEQUENT
                since = message.at if answerable_from is None else max(message.at, answerable_from)
                open_wait = Wait(kind=kind, client_message_id=message.id, waiting_since=since)
        elif message.author_kind == OPERATOR:
            operator_has_written = True
            if open_wait is not None:
                responded_at = max(message.at, open_wait.waiting_since)
                waits.append(
                    Wait(
                        kind=open_wait.kind,
                        client_message_id=open_wait.client_message_id,
                        waiting_since=open_wait.waiting_since,
                        response_message_id=message.id,
                        operator_id=message.operator_id,
                        responded_at=responded_at,
                    )
                )
                open_wait = None
    if open_wait is not None:
        if closed_at is not None:
            open_wait = Wait(
                kind=open_wait.kind,
                client_message_id=open_wait.client_message_id,
                waiting_since=open_wait.waiting_since,
                closed_unanswered_at=max(closed_at, open_wait.waiting_since),
            )
        waits.append(open_wait)
    return waits


def counted_seconds(rules: ResponseRules, start: datetime, end: datetime) -> float:
    """Seconds from ``start`` to ``end`` on the rules' clock (working hours only, or the wall clock)."""
    if end <= start:
        return 0.0
    if rules.working_hours_only and rules.calendar is not None:
        return open_seconds_between(rules.calendar, start, end)
    return (end - start).total_seconds()


def due_at(rules: ResponseRules, start: datetime) -> datetime | None:
    """The instant the counted time from ``start`` reaches the target; None without a target or if never.

    With working hours only, walk the calendar's open stretches (numbered):
    1. find the next opening from the current point (none: never due);
    2. if the stretch from there lasts long enough, the target falls inside it;
    3. otherwise spend the stretch and continue from its closing.
    """
    if rules.target_seconds is None:
        return None
    remaining = timedelta(seconds=rules.target_seconds)
    if not (rules.working_hours_only and rules.calendar is not None):
        return start + remaining
    point = start
    while True:
        opening = next_opening(rules.calendar, point)
        if opening is None:
            return None
        closing = next_closing(rules.calendar, opening)
        if closing is None or closing - opening >= remaining:
            return opening + remaining
        remaining -= closing - opening
        point = closing


def measure(wait: Wait, rules: ResponseRules, *, now: datetime) -> Measurement:
    """Response time and target result of one wait at ``now``.

    A wait misses its target when it ended (answered or closed unanswered)
    after the target, or is still open after it. Reaching the target exactly
    is not a miss.
    """
    response_seconds = None
    if wait.responded_at is not None:
        response_seconds = counted_seconds(rules, wait.waiting_since, wait.responded_at)
    deadline = due_at(rules, wait.waiting_since)
    if deadline is None:
        return Measurement(response_seconds=response_seconds, due_at=None, is_miss=False)
    ended_at = wait.ended_at
    is_miss = ended_at > deadline if ended_at is not None else now > deadline
    return Measurement(response_seconds=response_seconds, due_at=deadline, is_miss=is_miss)


# --- K3: per-operator statistics -----------------------------------------------------------------


@dataclass(frozen=True)
class ResponseFact:
    """One recorded wait, as the statistics read it."""

    conversation_id: int
    operator_id: int | None
    kind: ResponseKind
    response_seconds: float | None
    is_miss: bool


@dataclass(frozen=True)
class OperatorStats:
    """K3 figures for one operator (or everyone) over a period; seconds, None when nothing was answered."""

    operator_id: int | None
    conversations: int
    responses: int
    initial_average_seconds: float | None
    average_seconds: float | None
    maximum_seconds: float | None
    total_seconds: float
    misses: int


def operator_stats(facts: Sequence[ResponseFact], *, operator_id: int | None = None) -> OperatorStats:
    """K3 arithmetic over the given waits: the SQL of the KPI page must agree with it (tested)."""
    # Each answered wait paired with its seconds, so the figures below are plain floats, never None.
    answered = [(fact, fact.response_seconds) for fact in facts if fact.response_seconds is not None]
    initial = [wait for fact, wait in answered if fact.kind == ResponseKind.INITIAL]
    seconds = [wait for _, wait in answered]
    return OperatorStats(
        operator_id=operator_id,
        conversations=len({fact.conversation_id for fact, _ in answered}),
        responses=len(seconds),
        initial_average_seconds=sum(initial) / len(initial) if initial else None,
        average_seconds=sum(seconds) / len(seconds) if seconds else None,
        maximum_seconds=max(seconds) if seconds else None,
        total_seconds=float(sum(seconds)),
        misses=sum(1 for fact in facts if fact.is_miss),
    )


def render_miss_text(template: str, *, operator_name: str, dialog: str) -> str:
    """K2: the template with ``#OPERATOR#`` and ``#DIALOG#`` replaced (each wherever it appears)."""
    return template.replace("#OPERATOR#", operator_name).replace("#DIALOG#", dialog)

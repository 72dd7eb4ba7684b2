"""KPI writes (K1, K2, R3): response records, missed-target notifications, supervisor ratings.

Every function follows the service contract (docs/SERVICES.md): keyword-only
arguments, one ``transaction.atomic``, an explicit ``now``, idempotent.

Recording is off the message path: the services that store a message, close
a conversation or take it over from the chatbot only set
``Conversation.responses_pending`` in the UPDATE of the conversation row they
make anyway (``channels_app.engine.messages`` and ``.transitions``), and the beat task
``kpi.tasks.record_pending_responses`` (every ``KPI_RECORD_INTERVAL_SECONDS``)
records the flagged conversations in batches with
:func:`responses_record_pending`. KPI figures may lag by that interval.

Locking: recording takes the conversation's row lock (the only lock the
distribution services share with us, and they take no lock after it), then
writes that conversation's response records. Every writer of response
records goes through :func:`_record_locked`, so two runs for one
conversation queue up and the second finds the first one's rows. Last, once
per transaction, the day rollup (:mod:`kpi.rollup`): the conversations' own
``KpiConversationDay`` rows, then the shared ``KpiDay`` rows in key order
(open channel, operator, day). Nothing takes a lock after those.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape, format_html
from django.utils.translation import gettext, gettext_noop

from channels_app.engine import access, notifications, texts
from channels_app.engine.calendars import calendar_for
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.engine.events import nudge_wallboards, operator_group, publish
from channels_app.models import (
    CLOSED_STATUSES,
    Conversation,
    ConversationStatus,
    Message,
    Notification,
    OpenChannel,
    operator_display_name,
)
from channels_app.policy.schedule import WorkingCalendar
from kpi import metrics, rollup
from kpi.models import KpiMiss, ResponseKind, ResponseRecord, SupervisorRating

logger = logging.getLogger("kpi.services")
User = get_user_model()

SWEEP_BATCH = 200
# A batch holds its conversations' row locks until it commits, and a new message of one of them waits
# for that: 50 keep the wait to a few tens of milliseconds (about 0.7 ms per conversation).
RECORD_BATCH = 50
NOTIFY_BATCH = 100


# The model's default template (OpenChannel.kpi_miss_template); left untouched, it is sent in the channel's language.
MISS_TEMPLATE_DEFAULT = gettext_noop("#OPERATOR# missed the response time target in conversation #DIALOG#.")


def unassigned_name() -> str:
    """The name shown for a wait nobody held, in the active language."""
    return gettext("Nobody (unassigned)")


def miss_template(channel: OpenChannel) -> str:
    """K2: the channel's miss template; the untouched default in the channel's language, an edited one as written."""
    if channel.kpi_miss_template.strip() != MISS_TEMPLATE_DEFAULT:
        return channel.kpi_miss_template
    return texts.translated(MISS_TEMPLATE_DEFAULT, channel.language)


@dataclass(frozen=True)
class RecordingResult:
    records: int  # waits the conversation has now
    new_miss_ids: tuple[int, ...]  # misses found by this run (notified by the sweep)
    # Rollup days whose figures this run changed (before or after the change); empty when nothing changed.
    rollup_keys: frozenset[rollup.DayKey] = frozenset()


class _RollupChanges:
    """What a transaction's recordings changed, for one :func:`kpi.rollup.refresh` before it commits."""

    def __init__(self) -> None:
        self.keys: set[rollup.DayKey] = set()
        self.conversation_ids: set[int] = set()

    def add(self, conversation_id: int, result: RecordingResult) -> None:
        if result.rollup_keys:
            self.keys |= result.rollup_keys
            self.conversation_ids.add(conversation_id)

    def apply(self) -> None:
        rollup.refresh(keys=self.keys, conversation_ids=self.conversation_ids)


# --- K1: recording responses ---------------------------------------------------------------------------


def responses_record(*, conversation_id: int, now: datetime) -> RecordingResult:
    """Recompute one conversation's response records from its messages and upsert them (K1).

    For one conversation at once (e.g. after importing messages); new messages
    are recorded in batches by :func:`responses_record_pending`. Running it
    twice changes nothing the second time. A wait found past its target gets a
    :class:`KpiMiss` row, notified by :func:`misses_notify`.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
        if conversation is None:
            return RecordingResult(records=0, new_miss_ids=())
        result = _record_locked(conversation, now=now)
        changes = _RollupChanges()
        changes.add(conversation.pk, result)
        changes.apply()
        if conversation.responses_pending:
            # Recorded under the row lock after every committed message: the batch has nothing left to do here.
            Conversation.objects.filter(pk=conversation.pk).update(responses_pending=False)
        return result


def responses_record_pending(*, now: datetime, limit: int = RECORD_BATCH) -> int:
    """Record every conversation flagged ``responses_pending`` and clear its flag (K1); returns how many.

    Several messages of one conversation between two runs cost one recording,
    and a batch reads the messages and records of all its conversations in
    two queries.

    1. Claim up to ``limit`` flagged conversations after the last id seen, in
       id order, with ``FOR UPDATE SKIP LOCKED``: a conversation another
       transaction holds stays flagged for the next run, and two runs at once
       never record the same conversation.
    2. Read their client and operator messages and their records (two queries).
    3. Record each one, clear the batch's flags with one UPDATE, commit. A
       crash before the commit leaves the whole batch flagged.
    4. If one conversation fails, the batch is rolled back and redone with a
       savepoint per conversation: the others are recorded, the failing one is
       logged and stays flagged for the next run, and this run goes on after it.
    5. Continue after the batch's last id until a batch comes back short.

    Why no message is missed (PostgreSQL, READ COMMITTED): the transaction
    that stores a message sets the flag with an UPDATE of the conversation
    row, which holds the row's lock until it commits; our claim holds the same
    lock from the claim to our commit. So a message's transaction either
    committed before our claim (the claim sees the flag, and the reads of step
    2, each with a fresh snapshot, see the message), or held the row at our
    claim (skipped, still flagged), or updates the row after our claim: it
    then waits for our commit and sets the flag again after we cleared it.
    """
    return _record_pending(now=now, limit=limit).recorded


@dataclass
class _PendingRun:
    recorded: int = 0
    new_miss_ids: list[int] = field(default_factory=list)
    claimed: int = 0
    last_id: int = 0


def _record_pending(*, now: datetime, limit: int = RECORD_BATCH) -> _PendingRun:
    """:func:`responses_record_pending`, also returning the misses it found (the K2 sweep counts them)."""
    run = _PendingRun()
    while True:
        try:
            batch = _record_pending_batch(now=now, after_id=run.last_id, limit=limit, isolate=False)
        except Exception:
            logger.warning("Recording a batch of pending conversations failed; redoing it one by one", exc_info=True)
            batch = _record_pending_batch(now=now, after_id=run.last_id, limit=limit, isolate=True)
        run.recorded += batch.recorded
        run.new_miss_ids += batch.new_miss_ids
        run.claimed += batch.claimed
        if batch.claimed < limit:
            return run
        run.last_id = batch.last_id


def _record_pending_batch(*, now: datetime, after_id: int, limit: int, isolate: bool) -> _PendingRun:
    batch = _PendingRun(last_id=after_id)
    with transaction.atomic():
        conversations = list(
            Conversation.objects.filter(responses_pending=True, pk__gt=after_id)
            .order_by("pk")
            .select_for_update(skip_locked=True, of=("self",))[:limit]
        )
        reads = _read_locked(conversations)
        recorded_ids: list[int] = []
        changes = _RollupChanges()
        for conversation in conversations:
            if isolate:
                try:
                    with transaction.atomic():
                        result = _record_locked(conversation, now=now, reads=reads)
                except Exception:
                    logger.exception(
                        "Could not record the responses of conversation %s; it stays pending", conversation.pk
                    )
                    continue
            else:
                result = _record_locked(conversation, now=now, reads=reads)
            recorded_ids.append(conversation.pk)
            batch.new_miss_ids += result.new_miss_ids
            changes.add(conversation.pk, result)
        changes.apply()
        if recorded_ids:
            Conversation.objects.filter(pk__in=recorded_ids).update(responses_pending=False)
    batch.recorded = len(recorded_ids)
    batch.claimed = len(conversations)
    if conversations:
        batch.last_id = conversations[-1].pk
    return batch


def responses_sweep(*, now: datetime) -> int:
    """Find waits still unanswered past their target (K2) and record them as misses; returns how many.

    Records the pending conversations first (:func:`responses_record_pending`),
    so a wait not yet recorded is still found by this sweep. Claims
    conversations with ``skip_locked`` in batches, so a sweep running twice at
    once, or a conversation being recorded, never makes a second miss.
    """
    found = len(_record_pending(now=now).new_miss_ids)
    while True:
        with transaction.atomic():
            overdue = ResponseRecord.objects.filter(ended_at__isnull=True, is_miss=False, due_at__lt=now).values(
                "conversation_id"
            )
            conversations = list(
                Conversation.objects.filter(pk__in=overdue)
                .order_by("pk")
                .select_for_update(skip_locked=True, of=("self",))[:SWEEP_BATCH]
            )
            reads = _read_locked(conversations)
            changes = _RollupChanges()
            for conversation in conversations:
                result = _record_locked(conversation, now=now, reads=reads)
                found += len(result.new_miss_ids)
                changes.add(conversation.pk, result)
            changes.apply()
        if len(conversations) < SWEEP_BATCH:
            return found


@dataclass
class _LockedReads:
    """What recording reads about a set of locked conversations, read once for the set."""

    facts: dict[int, list[metrics.MessageFact]]
    records: dict[int, list[ResponseRecord]]
    calendars: _CalendarCache


def _read_locked(conversations: list[Conversation]) -> _LockedReads:
    """Client and operator messages and response records of these conversations (locked by the caller)."""
    facts: dict[int, list[metrics.MessageFact]] = defaultdict(list)
    records: dict[int, list[ResponseRecord]] = defaultdict(list)
    ids = [conversation.pk for conversation in conversations if conversation.status != ConversationStatus.BOT]
    if ids:
        # No ORDER BY: the arithmetic orders each conversation's messages itself.
        messages = (
            Message.objects.filter(
                conversation_id__in=ids, author_kind__in=(Message.Author.CLIENT, Message.Author.OPERATOR)
            )
            .order_by()
            .values_list("conversation_id", "id", "author_kind", "created_at", "author_id")
        )
        for conversation_id, message_id, kind, at, author_id in messages:
            facts[conversation_id].append(
                metrics.MessageFact(id=message_id, author_kind=kind, at=at, operator_id=author_id)
            )
        for record in ResponseRecord.objects.filter(conversation_id__in=ids).order_by():
            records[record.conversation_id].append(record)
    return _LockedReads(facts=facts, records=records, calendars=_CalendarCache())


def _record_locked(conversation: Conversation, *, now: datetime, reads: _LockedReads | None = None) -> RecordingResult:
    """Upsert the conversation's response records; the caller holds its row lock.

    ``reads`` holds its messages and records when the caller read them for a
    whole batch (after taking the locks); otherwise they are read here.

    1. While the chatbot still answers (B1) nobody waits for an operator yet.
    2. Split the client and operator messages into waits (pure).
    3. A new wait takes the open channel's current target and clock; an
       existing one keeps those it started with.
    4. Write only rows that changed; drop rows of waits that no longer exist.
    5. Give every newly missed wait its one miss row.
    6. Return the rollup days the changes touched; the caller refreshes them once per transaction.
    """
    if conversation.status == ConversationStatus.BOT:
        return RecordingResult(records=0, new_miss_ids=())
    if reads is None:
        reads = _read_locked([conversation])
    facts = reads.facts.get(conversation.pk, [])
    closed_at = conversation.closed_at if conversation.status in CLOSED_STATUSES else None
    waits = metrics.conversation_waits(facts, closed_at=closed_at, answerable_from=conversation.bot_handed_over_at)
    existing = {record.client_message_id: record for record in reads.records.get(conversation.pk, [])}
    calendars = reads.calendars
    new_miss_ids: list[int] = []
    rollup_keys: set[rollup.DayKey] = set()
    missed_record_ids: set[int] | None = None  # read only once a wait turns out missed
    for wait in waits:
        record = existing.pop(wait.client_message_id, None)
        if record is None:
            record = _new_record(conversation, wait, calendars)
        before = _rollup_key(record, calendars) if record.pk is not None else None
        rules = metrics.ResponseRules(
            target_seconds=record.target_seconds,
            working_hours_only=record.working_hours_only,
            calendar=calendars.get(record.open_channel_id) if record.working_hours_only else None,
        )
        measurement = metrics.measure(wait, rules, now=now)
        operator_id = wait.operator_id if wait.responded_at is not None else record.operator_id
        if operator_id is None and wait.responded_at is None and measurement.is_miss:
            operator_id = conversation.operator_id  # unanswered: the holder missed it
        values = {
            "kind": wait.kind.value,
            "waiting_since": wait.waiting_since,
            "operator_id": operator_id,
            "response_message_id": wait.response_message_id,
            "responded_at": wait.responded_at,
            "ended_at": wait.ended_at,
            "response_seconds": measurement.response_seconds,
            "due_at": measurement.due_at,
            "is_miss": measurement.is_miss,
        }
        changed = [name for name, value in values.items() if getattr(record, name) != value]
        for name in changed:
            setattr(record, name, values[name])
        if record.pk is None:
            record.save()
            rollup_keys.add(_rollup_key(record, calendars))
        elif changed:
            record.save(update_fields=[*changed, "updated_at"])
            rollup_keys.add(_rollup_key(record, calendars))
            if before is not None:
                rollup_keys.add(before)
        if record.is_miss:
            if missed_record_ids is None:
                missed_record_ids = set(
                    KpiMiss.objects.filter(conversation_id=conversation.pk).values_list("response_record_id", flat=True)
                )
            if record.pk in missed_record_ids:
                continue
            miss = KpiMiss.objects.create(
                response_record=record,
                conversation_id=conversation.pk,
                open_channel_id=record.open_channel_id,
                operator_id=record.operator_id,
                kind=record.kind,
                detected_at=now,
            )
            new_miss_ids.append(miss.pk)
            missed_record_ids.add(record.pk)
    if existing:
        ResponseRecord.objects.filter(pk__in=[record.pk for record in existing.values()]).delete()
        rollup_keys |= {_rollup_key(record, calendars) for record in existing.values()}
    return RecordingResult(records=len(waits), new_miss_ids=tuple(new_miss_ids), rollup_keys=frozenset(rollup_keys))


def _rollup_key(record: ResponseRecord, calendars: _CalendarCache) -> rollup.DayKey:
    zone = calendars.channel(record.open_channel_id).tz
    return (record.open_channel_id, record.operator_id, rollup.local_day(record.waiting_since, zone))


def _new_record(conversation: Conversation, wait: metrics.Wait, calendars: _CalendarCache) -> ResponseRecord:
    channel = calendars.channel(conversation.open_channel_id)
    if wait.kind == metrics.ResponseKind.INITIAL:
        target = channel.kpi_initial_target_seconds if channel.kpi_initial_enabled else None
    else:
        target = channel.kpi_subsequent_target_seconds if channel.kpi_subsequent_enabled else None
    return ResponseRecord(
        conversation_id=conversation.pk,
        open_channel_id=channel.pk,
        client_message_id=wait.client_message_id,
        kind=wait.kind.value,
        waiting_since=wait.waiting_since,
        working_hours_only=channel.kpi_working_hours_only,
        target_seconds=target,
    )


class _CalendarCache:
    """Open channels and their calendars, loaded once per recording run."""

    def __init__(self) -> None:
        self._channels: dict[int, OpenChannel] = {}
        self._calendars: dict[int, WorkingCalendar] = {}

    def channel(self, open_channel_id: int) -> OpenChannel:
        if open_channel_id not in self._channels:
            self._channels[open_channel_id] = OpenChannel.objects.get(pk=open_channel_id)
        return self._channels[open_channel_id]

    def get(self, open_channel_id: int) -> WorkingCalendar:
        if open_channel_id not in self._calendars:
            self._calendars[open_channel_id] = calendar_for(self.channel(open_channel_id))
        return self._calendars[open_channel_id]


def kpi_rollup_rebuild(*, from_day: date | None = None) -> tuple[int, int]:
    """Recompute the K3 day rollup from the response records, for local days from ``from_day`` (every day
    when None); returns the (day rows, conversation-day rows) written. Idempotent.

    Recording keeps the rollup up to date by itself; rebuild after an open channel's time zone changes
    (its local days move), after deleting users or conversations, or after importing records by hand.
    Recording waits for the rebuild's table locks and then refreshes its own days on top of it.
    """
    with transaction.atomic():
        return rollup.rebuild(from_day=from_day)


# --- K2: notifying misses ------------------------------------------------------------------------------


def conversation_kpi_url(conversation_id: int) -> str:
    """The absolute link of a conversation's KPI drill-down page (used by #DIALOG#)."""
    return settings.SITE_URL + reverse("kpi:conversation", args=[conversation_id])


def misses_notify(*, now: datetime) -> int:
    """Tell each open channel's chosen users about its new misses (K2); returns how many misses were notified.

    Each miss is claimed with ``skip_locked`` and marked notified in the same
    transaction that schedules its messages, so it is notified once even
    when two sweeps run at once. Console events and e-mails leave after
    commit; a failing mail server is logged and not retried (one
    notification per miss rather than a possible duplicate).
    """
    notified = 0
    while True:
        with transaction.atomic():
            misses = list(
                KpiMiss.objects.filter(notified_at__isnull=True)
                .order_by("detected_at", "pk")
                .select_for_update(skip_locked=True, of=("self",))[:NOTIFY_BATCH]
            )
            channel_ids = {miss.open_channel_id for miss in misses}
            nudge_wallboards(channel_ids)  # today's response-time misses on the supervisors' wallboards
            recipients_by_channel = {
                channel.pk: (channel, [user for user in channel.kpi_notify_users.all() if user.is_active])
                for channel in OpenChannel.objects.filter(pk__in=channel_ids).prefetch_related("kpi_notify_users")
            }
            operators = {
                user.pk: user
                for user in User.objects.filter(pk__in={m.operator_id for m in misses if m.operator_id}).select_related(
                    "operator_profile"
                )
            }
            emails: list[EmailMultiAlternatives] = []
            for miss in misses:
                channel, recipients = recipients_by_channel[miss.open_channel_id]
                operator = operators.get(miss.operator_id) if miss.operator_id is not None else None
                # One text for all recipients (bell, notifications page, e-mail): in the open channel's language.
                with translation.override(channel.language):
                    operator_name = operator_display_name(operator) if operator is not None else unassigned_name()
                url = conversation_kpi_url(miss.conversation_id)
                dialog = f"#{miss.conversation_id}"
                template = miss_template(channel)
                miss.text = metrics.render_miss_text(template, operator_name=operator_name, dialog=dialog)
                miss.notified_at = now
                miss.recipients = [user.pk for user in recipients]
                miss.save(update_fields=["text", "notified_at", "recipients"])
                event = {"type": "kpi.miss", "text": miss.text, "conversation_id": miss.conversation_id, "url": url}
                publish([operator_group(user.pk) for user in recipients], event)
                # Kept until read, in the console's bell and on the supervisors' notifications page.
                notifications.notify(
                    recipient_ids=miss.recipients,
                    kind=Notification.Kind.K2_MISS,
                    conversation_id=miss.conversation_id,
                    text=miss.text,
                    now=now,
                )
                addresses = [user.email for user in recipients if user.email]
                if addresses:
                    emails.append(_miss_email(channel, miss, template, operator_name, dialog, url, addresses))
            if emails:
                # A named function, not functools.partial: Django logs a failing robust
                # callback by its __qualname__, which a partial lacks.
                transaction.on_commit(_emails_sender(emails), robust=True)
            notified += len(misses)
        if len(misses) < NOTIFY_BATCH:
            return notified


def _miss_email(
    channel: OpenChannel,
    miss: KpiMiss,
    template: str,
    operator_name: str,
    dialog: str,
    url: str,
    addresses: list[str],
) -> EmailMultiAlternatives:
    body = metrics.render_miss_text(template, operator_name=operator_name, dialog=f"{dialog} ({url})")
    # Escape the administrator's template and the name first, then insert the link as markup.
    html = metrics.render_miss_text(
        escape(template), operator_name=escape(operator_name), dialog=format_html('<a href="{}">{}</a>', url, dialog)
    )
    with translation.override(channel.language):
        if miss.kind == ResponseKind.INITIAL:
            subject = gettext("[%(channel)s] Missed first-response target in conversation %(dialog)s")
        else:
            subject = gettext("[%(channel)s] Missed response target in conversation %(dialog)s")
    message = EmailMultiAlternatives(
        subject=subject % {"channel": channel.name, "dialog": dialog},
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses,
    )
    message.attach_alternative(f"<p>{html}</p>", "text/html")
    return message


def _emails_sender(emails: list[EmailMultiAlternatives]):
    def send_miss_emails() -> None:
        try:
            get_connection().send_messages(emails)
        except Exception:
            logger.exception("Could not send %d KPI miss e-mail(s)", len(emails))

    return send_miss_emails


# --- R3: supervisor rating -----------------------------------------------------------------------------


def supervisor_rating_save(
    *, conversation_id: int, supervisor, score: int, comment: str, now: datetime
) -> SupervisorRating:
    """R3: a supervisor rates how the operator handled a conversation, 1–5 with a comment.

    One rating per supervisor and conversation: rating again replaces it. Only a supervisor of the
    conversation's open channel (or an administrator) may rate it; to anyone else it does not exist.
    """
    if not supervisor.has_perm("kpi.view_kpi"):
        raise NotAllowed(gettext("Only supervisors can rate conversations."))
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ServiceError(gettext("The score must be a whole number from 1 to 5."))
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise ServiceError(gettext("The comment is too long (5,000 characters at most)."))
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
        if conversation is None or not access.supervises(supervisor, conversation.open_channel_id):
            raise NotFound(gettext("This conversation does not exist."))
        operator_id = conversation.operator_id or conversation.first_operator_id
        if operator_id is None:
            raise InvalidState(gettext("No operator has handled this conversation yet, so there is nobody to rate."))
        rating, _created = SupervisorRating.objects.update_or_create(
            conversation=conversation,
            supervisor=supervisor,
            defaults={"operator_id": operator_id, "score": score, "comment": comment, "created_at": now},
        )
    return rating


def conversations_erase_texts(sender=None, *, conversation_ids: list[int], **kwargs) -> None:
    """Issue 19: receiver of ``signals.conversations_erasing``, in the erasure's transaction. The figures stay;
    the texts that may quote the client go: a missed target's notification text and a supervisor's comment."""
    KpiMiss.objects.filter(conversation_id__in=conversation_ids).exclude(text="").update(text="")
    SupervisorRating.objects.filter(conversation_id__in=conversation_ids).exclude(comment="").update(comment="")

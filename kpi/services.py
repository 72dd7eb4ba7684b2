"""KPI writes (K1, K2, R3): response records, missed-target notifications, supervisor ratings.

Every function follows the service contract (docs/SERVICES.md): keyword-only
arguments, one ``transaction.atomic``, an explicit ``now``, idempotent.

Locking: recording takes the conversation's row lock (the only lock the
distribution services share with us, and they take no lock after it), then
writes that conversation's response records. Every writer of response
records goes through :func:`_record_locked`, so two runs for one
conversation queue up and the second finds the first one's rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils.html import escape, format_html

from channels_app.events import operator_group, publish
from channels_app.models import Conversation, ConversationStatus, Message, OpenChannel
from channels_app.schedule import WorkingCalendar
from channels_app.schedule_loader import calendar_for
from channels_app.services.errors import InvalidState, NotAllowed, NotFound, ServiceError
from kpi import metrics
from kpi.models import KpiMiss, ResponseKind, ResponseRecord, SupervisorRating

logger = logging.getLogger("kpi.services")
User = get_user_model()

CLOSED_STATUSES = (ConversationStatus.CLOSED, ConversationStatus.CLOSED_PENDING_RATING)
SWEEP_BATCH = 200
NOTIFY_BATCH = 100
UNASSIGNED_NAME = "Nobody (unassigned)"


@dataclass(frozen=True)
class RecordingResult:
    records: int  # waits the conversation has now
    new_miss_ids: tuple[int, ...]  # misses found by this run (notified by the sweep)


# --- K1: recording responses ---------------------------------------------------------------------------


def responses_record(*, conversation_id: int, now: datetime) -> RecordingResult:
    """Recompute one conversation's response records from its messages and upsert them (K1).

    Called for every new message (``message_created``) and by the sweep;
    running it twice changes nothing the second time. A wait found past its
    target gets a :class:`KpiMiss` row, notified by :func:`misses_notify`.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
        if conversation is None:
            return RecordingResult(records=0, new_miss_ids=())
        return _record_locked(conversation, now=now)


def responses_sweep(*, now: datetime) -> int:
    """Find waits still unanswered past their target (K2) and record them as misses; returns how many.

    Claims conversations with ``skip_locked`` in batches, so a sweep running
    twice at once, or a message being recorded, never makes a second miss.
    """
    found = 0
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
            for conversation in conversations:
                found += len(_record_locked(conversation, now=now).new_miss_ids)
        if len(conversations) < SWEEP_BATCH:
            return found


def _record_locked(conversation: Conversation, *, now: datetime) -> RecordingResult:
    """Upsert the conversation's response records; the caller holds its row lock.

    1. While the chatbot still answers (B1) nobody waits for an operator yet.
    2. Read the client and operator messages and split them into waits (pure).
    3. A new wait takes the open channel's current target and clock; an
       existing one keeps those it started with.
    4. Write only rows that changed; drop rows of waits that no longer exist.
    5. Give every newly missed wait its one miss row.
    """
    if conversation.status == ConversationStatus.BOT:
        return RecordingResult(records=0, new_miss_ids=())
    facts = [
        metrics.MessageFact(id=message_id, author_kind=kind, at=at, operator_id=author_id)
        for message_id, kind, at, author_id in Message.objects.filter(
            conversation_id=conversation.pk, author_kind__in=(Message.Author.CLIENT, Message.Author.OPERATOR)
        ).values_list("id", "author_kind", "created_at", "author_id")
    ]
    closed_at = conversation.closed_at if conversation.status in CLOSED_STATUSES else None
    waits = metrics.conversation_waits(facts, closed_at=closed_at, answerable_from=conversation.bot_handed_over_at)
    existing = {record.client_message_id: record for record in ResponseRecord.objects.filter(conversation=conversation)}
    calendars = _CalendarCache()
    new_miss_ids: list[int] = []
    missed_record_ids: set[int] | None = None  # read only once a wait turns out missed
    for wait in waits:
        record = existing.pop(wait.client_message_id, None)
        if record is None:
            record = _new_record(conversation, wait, calendars)
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
        elif changed:
            record.save(update_fields=[*changed, "updated_at"])
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
    return RecordingResult(records=len(waits), new_miss_ids=tuple(new_miss_ids))


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


# --- K2: notifying misses ------------------------------------------------------------------------------


def conversation_kpi_url(conversation_id: int) -> str:
    """The absolute link of a conversation's KPI drill-down page (used by #DIALOG#)."""
    return settings.SITE_URL + reverse("kpi:conversation", args=[conversation_id])


def operator_display_name(user) -> str:
    if user is None:
        return UNASSIGNED_NAME
    profile = getattr(user, "operator_profile", None)
    if profile is not None:
        return profile.public_name
    return user.get_full_name() or user.get_username()


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
                operator_name = operator_display_name(operators.get(miss.operator_id))
                url = conversation_kpi_url(miss.conversation_id)
                dialog = f"#{miss.conversation_id}"
                miss.text = metrics.render_miss_text(
                    channel.kpi_miss_template, operator_name=operator_name, dialog=dialog
                )
                miss.notified_at = now
                miss.recipients = [user.pk for user in recipients]
                miss.save(update_fields=["text", "notified_at", "recipients"])
                event = {"type": "kpi.miss", "text": miss.text, "conversation_id": miss.conversation_id, "url": url}
                publish([operator_group(user.pk) for user in recipients], event)
                addresses = [user.email for user in recipients if user.email]
                if addresses:
                    emails.append(_miss_email(channel, miss, operator_name, dialog, url, addresses))
            if emails:
                # A named function, not functools.partial: Django logs a failing robust
                # callback by its __qualname__, which a partial lacks.
                transaction.on_commit(_emails_sender(emails), robust=True)
            notified += len(misses)
        if len(misses) < NOTIFY_BATCH:
            return notified


def _miss_email(
    channel: OpenChannel, miss: KpiMiss, operator_name: str, dialog: str, url: str, addresses: list[str]
) -> EmailMultiAlternatives:
    template = channel.kpi_miss_template
    body = metrics.render_miss_text(template, operator_name=operator_name, dialog=f"{dialog} ({url})")
    # Escape the administrator's template and the name first, then insert the link as markup.
    html = metrics.render_miss_text(
        escape(template), operator_name=escape(operator_name), dialog=format_html('<a href="{}">{}</a>', url, dialog)
    )
    kind = "initial" if miss.kind == ResponseKind.INITIAL else "subsequent"
    message = EmailMultiAlternatives(
        subject=f"[{channel.name}] Missed {kind} response target in conversation {dialog}",
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

    One rating per supervisor and conversation: rating again replaces it.
    """
    if not supervisor.has_perm("kpi.view_kpi"):
        raise NotAllowed("Only supervisors can rate conversations.")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ServiceError("The score must be a whole number from 1 to 5.")
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise ServiceError("The comment is too long (5,000 characters at most).")
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
        if conversation is None:
            raise NotFound("This conversation does not exist.")
        operator_id = conversation.operator_id or conversation.first_operator_id
        if operator_id is None:
            raise InvalidState("No operator has handled this conversation yet, so there is nobody to rate.")
        rating, _created = SupervisorRating.objects.update_or_create(
            conversation=conversation,
            supervisor=supervisor,
            defaults={"operator_id": operator_id, "score": score, "comment": comment, "created_at": now},
        )
    return rating

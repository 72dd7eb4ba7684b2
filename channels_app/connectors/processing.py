"""Writes of the connectors: storing webhook updates, turning them into messages, delivering replies.

The webhook stores (:func:`inbound_updates_store`) and answers; then the web
process turns text messages into messages itself
(:func:`inbound_updates_process_without_provider_calls`) and Celery runs the
rest (:func:`inbound_updates_process`, :func:`message_deliver`,
:func:`connectors_sweep`), so a provider always gets its answer fast and a
crash between storing and processing loses nothing: the sweep picks up what
is still pending.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.connectors import circuit
from channels_app.connectors.base import (
    DeliveryError,
    DownloadError,
    InboundEvent,
    MalformedUpdate,
    SendResult,
    Source,
    StoredUpdate,
    consent_buttons,
    rating_buttons,
)
from channels_app.connectors.registry import MESSENGER_KINDS, get_source
from channels_app.engine import delivery, instruments, intake, jobs
from channels_app.engine.attachments import (
    attachment_download_claim,
    attachment_download_failed,
    attachment_store_downloaded,
)
from channels_app.engine.client_view import name_line_for_client
from channels_app.engine.errors import ServiceError
from channels_app.engine.inbound import message_delete, message_edit, message_receive
from channels_app.models import (
    UPDATE_ID_MAX_LENGTH,
    Attachment,
    Client,
    Connector,
    InboundUpdate,
    Message,
    Reachability,
)
from channels_app.policy import circuit as circuit_policy
from channels_app.policy import messaging_window
from contact_center import broker, logs

logger = logging.getLogger("channels_app.connectors")

# Older than this and still pending, an update or a never-tried outbound message lost its Celery task.
PENDING_UPDATE_GRACE = timedelta(minutes=2)
QUEUED_MESSAGE_GRACE = timedelta(minutes=5)
SWEEP_BATCH = 500
# Database trouble that may pass: Celery retries the task instead of marking the update failed.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


# --- Webhook side ----------------------------------------------------------------------------

inbound_queue = broker.CachedLength(jobs.INBOUND, max_age=1.0)


def intake_paused() -> bool:
    """More than ``INBOUND_QUEUE_LIMIT`` tasks wait in the ``inbound`` queue: leave stored updates pending.

    Read at most once a second per process; a broker that does not answer does not pause anything (handing
    work over fails and is logged there, and the sweep catches up as it always does).
    """
    limit = settings.INBOUND_QUEUE_LIMIT
    if not limit:
        return False
    try:
        waiting = inbound_queue.get()
    except Exception:
        logger.warning("the inbound queue's length could not be read; intake goes on", exc_info=True)
        return False
    paused = waiting > limit
    if paused != _intake.paused:  # one line when it starts and one when it ends, not one per delivery
        _intake.paused = paused
        if paused:
            logger.warning(
                "inbound queue holds %s tasks (limit %s): deliveries are stored and left pending", waiting, limit
            )
        else:
            logger.info("inbound queue holds %s tasks (limit %s): deliveries are processed again", waiting, limit)
    return paused


class _Intake:
    paused = False


_intake = _Intake()


def inbound_updates_store(*, connector: Connector, updates: list[StoredUpdate], now: datetime) -> dict[int, list[str]]:
    """Store verified updates once each and return, per connector id, the update ids that were new.

    1. Updates addressed to another account (a Meta app delivers all its pages
       or numbers to one URL) go to the active connector of the same kind
       holding that account with the same app secret; others are dropped
       with a log line.
    2. One ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per connector stores
       them: a provider's retry inserts nothing and reports nothing new.
    """
    by_connector = _updates_by_connector(connector, updates)
    stored: dict[int, list[str]] = {}
    for connector_id, rows in by_connector.items():
        new_ids = _insert_new_updates(connector_id, rows, now)
        if new_ids:
            stored[connector_id] = new_ids
    return stored


def _updates_by_connector(connector: Connector, updates: list[StoredUpdate]) -> dict[int, list[StoredUpdate]]:
    grouped: dict[int, list[StoredUpdate]] = defaultdict(list)
    foreign = {u.account_id for u in updates if u.account_id and u.account_id != connector.account_id}
    siblings = {}
    if foreign:
        # Compared here, not in SQL: app secrets are stored encrypted, and no two encryptions are alike.
        candidates = Connector.objects.filter(kind=connector.kind, account_id__in=foreign, is_active=True)
        siblings = {
            candidate.account_id: candidate.pk
            for candidate in candidates.only("pk", "account_id", "app_secret")
            if candidate.app_secret == connector.app_secret
        }
    for update in updates:
        if not update.account_id or update.account_id == connector.account_id:
            grouped[connector.pk].append(update)
        elif update.account_id in siblings:
            grouped[siblings[update.account_id]].append(update)
        else:
            logger.warning(
                "%s connector %s: update %s is for account %s, which no connector of this app holds; dropped",
                connector.kind, connector.pk, update.update_id, update.account_id,
            )  # fmt: skip
    return grouped


def storable_update_id(update_id: str) -> str:
    """Provider ids longer than the column are replaced by their hash, which stays unique and stable."""
    update_id = _storable(update_id)
    if len(update_id) <= UPDATE_ID_MAX_LENGTH:
        return update_id
    return "sha256:" + hashlib.sha256(update_id.encode()).hexdigest()


def _insert_new_updates(connector_id: int, updates: list[StoredUpdate], now: datetime) -> list[str]:
    # Raw SQL because the ORM cannot say which rows ON CONFLICT DO NOTHING skipped, and this is the hot path.
    table = connection.ops.quote_name(InboundUpdate._meta.db_table)
    values: list[str] = []
    params: list[int | str | datetime] = []
    for update in updates:
        values.append("(%s, %s, %s::jsonb, %s, %s, '')")
        payload = json.dumps(_storable(update.payload), ensure_ascii=False, allow_nan=False)
        params += [connector_id, storable_update_id(update.update_id), payload, now, InboundUpdate.State.PENDING]
    # The table name is our own and every value is a parameter.
    sql = (
        f"INSERT INTO {table} (connector_id, update_id, payload, received_at, state, error) "  # noqa: S608
        f"VALUES {', '.join(values)} ON CONFLICT (connector_id, update_id) DO NOTHING RETURNING update_id"
    )
    # One statement is atomic on its own; no transaction block saves two round trips per webhook.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _storable(value: Any) -> Any:
    """PostgreSQL's jsonb refuses NUL characters, lone surrogates and non-finite numbers: drop them."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


# --- Celery side: inbound ----------------------------------------------------------------------


def inbound_updates_process(*, connector_id: int, update_ids: list[str], now: datetime) -> int:
    """Turn pending updates of one connector into messages; return how many were processed.

    For each update:
    1. Parse the stored payload; nothing usable → ``ignored`` with the reason.
    2. Complete the events outside any transaction (the client's name, a
       button press to answer), since those are slow network calls. Files
       are not fetched here: the message is stored with them pending and
       :func:`attachment_download` copies each one afterwards.
    3. In one transaction: claim the row (``skip_locked``, still pending),
       call the inbound services in a savepoint, and record ``processed`` or
       ``failed`` with the error. A replayed message is deduplicated by the
       service (``source_message_id``), so running this twice changes nothing.
    """
    return _process_pending(connector_id, update_ids, now, provider_calls=True).processed


def inbound_updates_process_without_provider_calls(
    *, connector_id: int, update_ids: list[str], now: datetime, connector: Connector | None = None
) -> list[str]:
    """Process at once the updates that need no call to the provider; return the ids left for Celery.

    The web process runs this right after answering a webhook, so a text
    or file message reaches the operator without a trip through the broker
    (its files pending until a worker copies them). An update whose events
    need a provider call (a client's name to ask for, a button press to
    answer) stays pending and its id is returned; everything else is exactly
    :func:`inbound_updates_process`, including a database error, which is
    raised (the caller hands the updates to Celery). ``connector``, when the
    caller has it loaded with its open channel, spares reading them again.
    """
    return _process_pending(connector_id, update_ids, now, provider_calls=False, connector=connector).deferred


@dataclass
class _Run:
    processed: int = 0
    deferred: list[str] = field(default_factory=list)


DEFERRED = "deferred"


@logs.scoped
def _process_pending(
    connector_id: int, update_ids: list[str], now: datetime, *, provider_calls: bool, connector: Connector | None = None
) -> _Run:
    logs.bind(connector_id=connector_id)
    run = _Run()
    pending = {update.update_id: update for update in intake.pending_updates(connector_id, update_ids)}
    if not pending:
        return run
    if connector is None or connector.pk != connector_id:
        connector = Connector.objects.select_related("open_channel").get(pk=connector_id)
    source = get_source(connector.kind)
    if source is None:
        return run
    for update_id in update_ids:
        update = pending.get(update_id)
        if update is None:
            continue
        update.connector = connector  # one object, so per-connector caches are filled once
        outcome = _process_update(connector, source, update, now, provider_calls=provider_calls)
        if outcome == DEFERRED:
            run.deferred.append(update_id)
        elif outcome:
            run.processed += 1
    return run


def _process_update(
    connector: Connector, source: Source, update: InboundUpdate, now: datetime, *, provider_calls: bool = True
) -> bool | str:
    try:
        events = source.parse(connector, update.payload)
    except MalformedUpdate as exc:
        return _finish(update, InboundUpdate.State.IGNORED, str(exc), now)
    if not events:
        logger.info(
            "%s connector %s: update %s has nothing to show; ignored", connector.kind, connector.pk, update.update_id
        )
        return _finish(update, InboundUpdate.State.IGNORED, "No message content this connector handles.", now)
    # Whether the client is new only matters for looking up a name the event lacks.
    new_client = [
        not event.client_name
        and event.kind != "receipt"
        and not Client.objects.filter(connector=connector, external_id=event.external_user_id).exists()
        for event in events
    ]
    if not provider_calls and any(
        source.needs_provider_call(connector, event, client_is_new=is_new)
        for event, is_new in zip(events, new_client, strict=True)
    ):
        return DEFERRED
    for event, is_new in zip(events, new_client, strict=True):
        try:
            source.complete_event(connector, event, client_is_new=is_new)
        except Exception:
            # Enrichment is optional: the client's message matters more than a name.
            logger.exception(
                "%s connector %s: completing update %s failed", connector.kind, connector.pk, update.update_id
            )

    with transaction.atomic():
        if not intake.update_claim(update.pk):
            return False
        try:
            # The events of one update succeed or fail together; a single event's service is atomic already.
            with transaction.atomic() if len(events) > 1 else nullcontext():
                for event in events:
                    _deliver_to_services(connector, event, now)
        except TRANSIENT_DB_ERRORS:
            raise
        except (ServiceError, DatabaseError) as exc:
            logger.warning(
                "%s connector %s: update %s refused: %s", connector.kind, connector.pk, update.update_id, exc
            )
            return _finish(update, InboundUpdate.State.FAILED, str(exc), now)
        except Exception as exc:
            # A bug must not make the sweep retry this update forever: record it and move on.
            logger.exception("%s connector %s: update %s failed", connector.kind, connector.pk, update.update_id)
            return _finish(update, InboundUpdate.State.FAILED, f"{type(exc).__name__}: {exc}", now)
        return _finish(update, InboundUpdate.State.PROCESSED, "", now)


def _deliver_to_services(connector: Connector, event: InboundEvent, now: datetime) -> None:
    if event.kind == "receipt":
        _record_receipt(connector, event, now)
        return
    if event.kind == "edit":
        edited = message_edit(connector=connector, source_message_id=event.source_message_id, text=event.text, now=now)
        if edited is None:
            logger.info(
                "%s connector %s: edit of unknown message %s", connector.kind, connector.pk, event.source_message_id
            )
        return
    if event.kind == "delete":
        deleted = message_delete(connector=connector, source_message_id=event.source_message_id, now=now)
        if deleted is None:
            logger.info(
                "%s connector %s: deletion of unknown message %s", connector.kind, connector.pk, event.source_message_id
            )
        return
    message_receive(
        connector=connector,
        external_user_id=event.external_user_id,
        text=event.text,
        source_message_id=event.source_message_id or None,
        now=now,
        files=event.files,
        client_name=event.client_name[:200],
        client_username=event.client_username[:200],
        client_phone=event.client_phone[:40],
        client_email=event.client_email,
        pressed_rating=event.pressed_rating,
        pressed_consent=event.pressed_consent,
        button_payload=event.button_payload,
        text_typed=event.text_typed and event.button_payload is None,
    )


def _record_receipt(connector: Connector, event: InboundEvent, now: datetime) -> None:
    """Issue 15.5: our messages delivered, read or failed, by their ids and/or up to a watermark; ids of messages
    we do not have (sent from the provider's own app, say) change nothing."""
    changed = delivery.message_delivery_update(
        connector_id=connector.pk,
        source_message_ids=[storable_update_id(value) for value in event.receipt_ids],
        state=event.receipt_state,
        error=event.receipt_error,
        now=now,
    )
    if event.receipt_up_to is not None and event.external_user_id:
        changed += delivery.messages_delivery_up_to(
            connector_id=connector.pk,
            client_external_id=event.external_user_id,
            up_to=event.receipt_up_to,
            state=event.receipt_state,
            now=now,
        )
    if not changed:
        logger.debug("%s connector %s: receipt changed no message", connector.kind, connector.pk)


def _finish(update: InboundUpdate, state: str, error: str, now: datetime) -> bool:
    intake.update_finish(update, state=state, error=error, now=now)
    return state == InboundUpdate.State.PROCESSED


# --- Celery side: outbound ---------------------------------------------------------------------

# Outbound sends (issue 21): retried with backoff (5 s, 10 s, 20 s … capped at 10 min) until the message's
# delivery deadline (``CONNECTOR_SEND_RETRY_HOURS`` after its first attempt, never past Meta's messaging window).
# While the connector's provider is unreachable (its circuit breaker, ``connectors.circuit``) sends wait
# without calling it.
SEND_BACKOFF_BASE_SECONDS = 5
SEND_BACKOFF_MAX_SECONDS = 600


# The lease of one attempt, renewed at each part: longer than a part's HTTP timeout (CONNECTOR_HTTP_TIMEOUT_SECONDS),
# so a second run never sends a message whose attempt is under way; a dead worker's lease runs out.
def send_lease() -> timedelta:
    return timedelta(seconds=max(60.0, 3 * settings.CONNECTOR_HTTP_TIMEOUT_SECONDS))


# Client files: six tries over about five minutes (5 s … 80 s). Providers' file links expire (Meta's CDN
# links within hours, Telegram's after an hour), so waiting longer would only fail later.
DOWNLOAD_MAX_RETRIES = 5


def send_backoff_seconds(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, never sooner than the provider asked (Telegram's retry_after)."""
    delay = min(SEND_BACKOFF_MAX_SECONDS, SEND_BACKOFF_BASE_SECONDS * 2**retries)
    delay += random.uniform(0, delay / 4)  # noqa: S311 -- spreads retries out; nothing secret
    return max(delay, retry_after or 0)


def send_retry_window() -> timedelta:
    return timedelta(hours=settings.CONNECTOR_SEND_RETRY_HOURS)


@dataclass(frozen=True)
class DeliveryOutcome:
    # "sent"; "retry" (try again in ``retry_after`` seconds); "held" (the provider is unreachable: the message
    # waits for the recovery, no task needed); "failed"; "skipped" (nothing to do, or another run has it).
    state: str
    error: str = ""
    retry_after: float | None = None


@logs.scoped
def message_deliver(*, message_id: int, now: datetime, final_attempt: bool = False) -> DeliveryOutcome:
    """Send one queued operator / bot / system message through its connector.

    1. Claim an attempt (:func:`_attempt_claim`): the message is still
       ``queued``, no other attempt holds its lease, no older reply of its
       conversation still waits (replies go out in order), its deadline has
       not passed, and the connector's circuit breaker lets it through.
       The attempt is counted and leased, then committed (no lock is held
       across the network calls).
    2. Send its parts (``Source.delivery_parts``: text, then each file
       natively) in order, skipping the ``delivery_parts_sent`` that went out
       on an earlier attempt, and record each part as soon as the provider
       took it (the first part's provider id stands for the message).
    3. Record ``sent`` and queue the conversation's next waiting reply; or,
       when the failure may pass and the deadline allows (and
       ``final_attempt`` is false), keep it ``queued`` with the reason, shown
       as delayed; or ``failed`` with the provider's reason. A transport
       failure also counts against the connector's breaker. Every change of
       what the operator sees is announced (``message.delivery``).

    A part the provider took just before this worker died is sent again by
    the retry (it was never recorded): at least once, never skipped.
    """
    claim = _attempt_claim(message_id, now=now)
    if isinstance(claim, DeliveryOutcome):
        return claim
    message, source = claim
    try:
        _send_parts(source, message)
    except DeliveryError as exc:
        return _attempt_failed(message, exc, now=now, final_attempt=final_attempt)
    with transaction.atomic():
        sent = Message.objects.filter(pk=message_id, delivery=Message.Delivery.QUEUED).update(
            delivery=Message.Delivery.SENT, delivery_error="", next_attempt_at=None, sending_until=None
        )
        if sent:
            delivery.announce_delivery(message_id)
    circuit.transport_succeeded(connector=message.connector, now=now)
    _enqueue_next_in_conversation(message)
    return DeliveryOutcome(state="sent")


def _attempt_claim(message_id: int, *, now: datetime) -> tuple[Message, Source] | DeliveryOutcome:
    """Lock the message and decide whether this run sends it now (see :func:`message_deliver`, step 1)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("connector__open_channel", "conversation__client", "author__operator_profile")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.delivery != Message.Delivery.QUEUED or message.author_kind == "client":
            return DeliveryOutcome(state="skipped")
        if message.sending_until is not None and message.sending_until > now:
            return DeliveryOutcome(state="skipped")  # another run's attempt is under way
        logs.bind(connector_id=message.connector_id, conversation_id=message.conversation_id)
        source = get_source(message.connector.kind)
        if source is None:
            return DeliveryOutcome(state="skipped")
        if not message.connector.is_active:
            return _fail(message, _("The connector is switched off; the message was not sent."), now=now)
        if message.delivery_deadline is None:
            message.delivery_deadline = _deadline(message, now=now)
        elif now >= message.delivery_deadline:
            return _fail(message, _deadline_reason(message), now=now)
        if _older_reply_waits(message):
            # The older one, once settled, queues this one; the operator reads the cause that matters most.
            if message.connector.is_unreachable:
                return _hold(message, reason=_not_answering(message.connector))
            return _hold(message, reason=_("Waits for the reply before it to go out."))
        if circuit.send_permission(message.connector, now=now) == circuit_policy.HOLD:
            message.next_attempt_at = message.connector.next_probe_at
            return _hold(message, reason=_not_answering(message.connector))
        message.delivery_attempts += 1
        message.sending_until = now + send_lease()
        message.next_attempt_at = None
        message.save(update_fields=["delivery_attempts", "delivery_deadline", "sending_until", "next_attempt_at"])
    return message, source


def _waiting_replies() -> QuerySet[Message]:
    """Outbound messages (the operators', bots' and system's) still queued for their connector."""
    return Message.objects.filter(delivery=Message.Delivery.QUEUED).exclude(author_kind=Message.Author.CLIENT)


def _older_reply_waits(message: Message) -> bool:
    """An older reply of the conversation is delayed (tried, or held for an outage): this one goes after it.

    One never tried yet is not waited for: its own task is on its way, and two replies written a moment apart
    race as they always did.
    """
    return (
        _waiting_replies()
        .filter(conversation_id=message.conversation_id, connector_id=message.connector_id, pk__lt=message.pk)
        .filter(Q(delivery_attempts__gt=0) | ~Q(delivery_error=""))
        .exists()
    )


def _deadline(message: Message, *, now: datetime) -> datetime:
    closes_at = None
    if not message.template:  # a template may open a closed window: only free-form replies are bound by it
        closes_at = messaging_window.window_closes_at(
            kind=message.connector.kind, last_client_message_at=message.conversation.last_client_message_at
        )
    return circuit_policy.delivery_deadline(
        first_attempt_at=now, retry_window=send_retry_window(), messaging_window_closes_at=closes_at
    )


def _deadline_reason(message: Message) -> str:
    reason = _("Not delivered in time: %(source)s did not take it before %(deadline)s.") % {
        "source": message.connector.get_kind_display(),
        "deadline": message.delivery_deadline.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if message.delivery_deadline
        else "",
    }
    if message.delivery_error:
        reason += " " + _("Last error: %(error)s") % {"error": message.delivery_error}
    return reason


def _not_answering(connector: Connector) -> str:
    return _("%(source)s is not answering; the message will be sent when it answers again.") % {
        "source": connector.get_kind_display()
    }


def _hold(message: Message, *, reason: str) -> DeliveryOutcome:
    """Inside the claim's transaction: the message waits, shown as delayed (the provider's last error, if it was
    tried, or ``reason``), for the recovery or the reply before it to send it. No task waits for it."""
    newly_delayed = not message.delivery_error
    if newly_delayed:
        message.delivery_error = reason
    message.save(update_fields=["delivery_deadline", "delivery_error", "next_attempt_at"])
    if newly_delayed:
        delivery.announce_delivery(message.pk)
    return DeliveryOutcome(state="held", error=message.delivery_error)


def _fail(message: Message, reason: str, *, now: datetime) -> DeliveryOutcome:
    """Inside the claim's transaction: the message is ``failed`` for good (the operator may still retry it)."""
    Message.objects.filter(pk=message.pk).update(
        delivery=Message.Delivery.FAILED, delivery_error=reason, next_attempt_at=None, sending_until=None
    )
    instruments.count_after_commit(instruments.deliveries_failed, connector_kind=message.connector.kind)
    delivery.delivery_failed(message.pk, now=now)
    logger.warning("message %s not delivered after %s attempts: %s", message.pk, message.delivery_attempts, reason)
    transaction.on_commit(lambda: _enqueue_next_in_conversation(message))
    return DeliveryOutcome(state="failed", error=reason)


def _attempt_failed(message: Message, exc: DeliveryError, *, now: datetime, final_attempt: bool) -> DeliveryOutcome:
    """After the network call failed: count it against the breaker, then retry, hold or fail the message."""
    error = str(exc)
    connector = message.connector
    if exc.unreachable:
        connector = circuit.transport_failed(connector_id=connector.pk, error=error, now=now)
    else:
        circuit.transport_succeeded(connector=connector, now=now)  # it answered, if only to refuse this message
    with transaction.atomic():
        current = Message.objects.select_for_update(of=("self",)).filter(pk=message.pk).first()
        if current is None or current.delivery != Message.Delivery.QUEUED:
            return DeliveryOutcome(state="skipped")  # settled meanwhile (an operator's retry, an erasure)
        retry_in = send_backoff_seconds(max(0, current.delivery_attempts - 1), exc.retry_after)
        deadline = current.delivery_deadline or now
        if not exc.retryable or final_attempt or now + timedelta(seconds=retry_in) >= deadline:
            current.connector = connector
            return _fail(current, error, now=now)
        newly_delayed = not current.delivery_error
        current.delivery_error = error
        current.sending_until = None
        if connector.is_unreachable:
            current.next_attempt_at = connector.next_probe_at
            current.save(update_fields=["delivery_error", "sending_until", "next_attempt_at"])
            outcome = DeliveryOutcome(state="held", error=error)
        else:
            current.next_attempt_at = now + timedelta(seconds=retry_in)
            current.save(update_fields=["delivery_error", "sending_until", "next_attempt_at"])
            outcome = DeliveryOutcome(state="retry", error=error, retry_after=retry_in)
        if newly_delayed:
            delivery.announce_delivery(current.pk)
    logger.info("message %s: attempt %s failed (%s); %s", message.pk, current.delivery_attempts, error, outcome.state)
    return outcome


def _enqueue_next_in_conversation(message: Message) -> None:
    """Queue the oldest reply of the conversation still waiting after ``message`` (replies go out in order)."""
    following = (
        _waiting_replies()
        .filter(conversation_id=message.conversation_id, connector_id=message.connector_id, pk__gt=message.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        _enqueue_send(following)


def _enqueue_send(message_id: int) -> None:
    try:
        jobs.enqueue(jobs.SEND_MESSAGE, message_id)
    except Exception:
        # The message is committed as queued; the connector sweep sends it once the broker is back.
        logger.exception("message %s: send not enqueued; the connector sweep will retry", message_id)


def connector_drain(*, connector_id: int) -> int:
    """After an outage: queue the oldest waiting reply of each of the connector's conversations; return how many.

    Each one, once sent, queues the next of its conversation, so conversations
    catch up in parallel and every conversation's replies keep their order.
    """
    oldest = (
        _waiting_replies()
        .filter(connector_id=connector_id)
        .order_by("conversation_id", "pk")
        .distinct("conversation_id")
        .values_list("pk", flat=True)
    )
    message_ids = sorted(oldest)
    for message_id in message_ids:
        _enqueue_send(message_id)
    return len(message_ids)


def connectors_probe(*, now: datetime) -> int:
    """Beat, every few seconds: for each unreachable connector whose recovery test is due, queue its oldest waiting
    reply; sending it is the test (the sender claims the one probe). Returns how many were queued."""
    queued = 0
    for connector_id in circuit.connectors_due_for_probe(now=now):
        oldest = (
            _waiting_replies().filter(connector_id=connector_id).order_by("pk").values_list("pk", flat=True).first()
        )
        if oldest is not None:
            _enqueue_send(oldest)
            queued += 1
    # Replies whose deadline passed while they waited (an outage longer than the retry window): the sender fails them.
    expired = (
        _waiting_replies()
        .filter(delivery_deadline__lt=now)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for message_id in expired:
        _enqueue_send(message_id)
        queued += 1
    return queued


# System messages sent with buttons where the source has them (one provider message each): R1's rating request,
# whose press comes back as ``pressed_rating``, and A1's consent notice, whose press comes back as
# ``pressed_consent``.
BUTTON_MESSAGES: dict[str, tuple[Callable[[Source], Callable[..., SendResult]], Callable[[str], list]]] = {
    "rating_request": (lambda source: source.send_rating_request, rating_buttons),
    "consent_request": (lambda source: source.send_consent_request, consent_buttons),
}


def _send_parts(source: Source, message: Message) -> None:
    """Send the parts of ``message`` not sent yet, recording each one the provider took."""
    recipient_id = message.conversation.client.external_id
    button_message = BUTTON_MESSAGES.get(message.system_key)
    if button_message is not None:
        if message.delivery_parts_sent:
            return  # went out on an earlier attempt
        send, buttons = button_message
        result = send(source)(
            message.connector,
            recipient_id=recipient_id,
            text=message.text,
            buttons=buttons(message.connector.open_channel.language),
        )
        _record_part_sent(message, 0, result)
        return
    parts = source.delivery_parts(
        text=message.text,
        attachments=list(message.attachments.all()),
        name_line=name_line_for_client(message, message.connector.open_channel),
        template=message.template,
    )
    for index, part in enumerate(parts):
        if index < message.delivery_parts_sent:
            continue
        result = source.send_part(message.connector, recipient_id=recipient_id, part=part)
        _record_part_sent(message, index, result)


def _record_part_sent(message: Message, index: int, result: SendResult) -> None:
    """Count part ``index`` as sent; the first part's provider id becomes the message's ``source_message_id``."""
    # The wall clock, not the run's ``now``: the lease is about how long the network calls are taking.
    changes: dict[str, Any] = {"delivery_parts_sent": index + 1, "sending_until": timezone.now() + send_lease()}
    if index == 0 and result.provider_message_id and not message.source_message_id:
        changes["source_message_id"] = storable_update_id(result.provider_message_id)
    Message.objects.filter(pk=message.pk, delivery=Message.Delivery.QUEUED).update(**changes)
    message.delivery_parts_sent = index + 1


@dataclass(frozen=True)
class DownloadOutcome:
    state: str  # "stored", "retry", "failed" or "skipped"
    error: str = ""


@logs.scoped
def attachment_download(*, attachment_id: int, now: datetime, final_attempt: bool) -> DownloadOutcome:
    """Copy one client file from its messenger into our storage.

    1. Claim an attempt (the file is still pending; the attempt is counted).
    2. Ask the message's source for the bytes, capped at the open channel's limit.
    3. Store them (:func:`engine.attachments.attachment_store_downloaded`), or
       keep the file pending for a retry when the failure may pass and
       attempts remain, or mark it failed with the reason the operator reads.
    """
    attachment = attachment_download_claim(attachment_id=attachment_id)
    if attachment is None:
        return DownloadOutcome(state="skipped")
    connector = attachment.message.connector
    logs.bind(connector_id=connector.pk, conversation_id=attachment.message.conversation_id)
    source = get_source(connector.kind)
    if source is None:
        attachment_download_failed(attachment_id=attachment_id, reason="This source has no files to fetch.", now=now)
        return DownloadOutcome(state="failed")
    try:
        downloaded = source.download(
            connector, attachment.source_ref, limit=connector.open_channel.file_limits.max_bytes
        )
    except DownloadError as exc:
        if exc.retryable and not final_attempt:
            return DownloadOutcome(state="retry", error=str(exc))
        attachment_download_failed(attachment_id=attachment_id, reason=str(exc), now=now)
        return DownloadOutcome(state="failed", error=str(exc))
    except Exception:
        # A bug must not leave the file "downloading…" for ever (the sweep requeues only untried files).
        logger.exception("attachment %s: download failed unexpectedly", attachment_id)
        reason = _("The file could not be copied from the messenger.")
        attachment_download_failed(attachment_id=attachment_id, reason=reason, now=now)
        return DownloadOutcome(state="failed", error=reason)
    stored = attachment_store_downloaded(
        attachment_id=attachment_id,
        content=downloaded.content,
        name=downloaded.name,
        mime_type=downloaded.mime_type,
        now=now,
    )
    if stored is None or stored.state != Attachment.State.READY:
        return DownloadOutcome(
            state="failed" if stored is not None else "skipped", error=stored.error if stored else ""
        )
    return DownloadOutcome(state="stored")


def message_needs_delivery(*, message_id: int) -> bool:
    """Whether a new message is an outbound message waiting for a messenger connector."""
    return (
        Message.objects.filter(pk=message_id, delivery=Message.Delivery.QUEUED, connector__kind__in=MESSENGER_KINDS)
        .exclude(author_kind="client")
        .exists()
    )


def enqueue_outbound_message(sender=None, *, message_id: int, author_kind: str = "", **kwargs) -> None:
    """Receiver of ``signals.message_created``: queue the send of replies on messenger connectors."""
    if author_kind == "client" or not message_needs_delivery(message_id=message_id):
        return
    try:
        jobs.enqueue(jobs.SEND_MESSAGE, message_id)
    except Exception:
        # The message is committed as queued; the sweep sends it once the broker is back.
        logger.exception("message %s: send not enqueued; the connector sweep will retry", message_id)


# --- Sweep ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepWork:
    updates: dict[int, list[str]]
    messages: list[int]
    attachments: list[int] = field(default_factory=list)


def connectors_sweep(*, now: datetime) -> SweepWork:
    """What lost its Celery task: updates still pending, outbound messages and client files never tried.

    Pending updates include those the webhook door left while the inbound queue was too long
    (:func:`intake_paused`), oldest first, so they are processed in the order they arrived; while the queue is
    still too long, none are handed over (they would only wait behind it, and be handed again next time).
    """
    pending: dict[int, list[str]] = defaultdict(list)
    rows = InboundUpdate.objects.filter(state="pending", received_at__lt=now - PENDING_UPDATE_GRACE).order_by("pk")
    for connector_id, update_id in (
        [] if intake_paused() else rows.values_list("connector_id", "update_id")[:SWEEP_BATCH]
    ):
        pending[connector_id].append(update_id)
    # A reply lost its task when it is due (never tried, its retry time or its dead worker's lease long past)
    # and its connector is reachable (an unreachable one's replies wait for the probe and the drain).
    messages = list(
        _waiting_replies()
        .filter(connector__kind__in=MESSENGER_KINDS, connector__reachability=Reachability.REACHABLE)
        .filter(Q(sending_until__isnull=True) | Q(sending_until__lt=now))
        .annotate(due_at=Coalesce("next_attempt_at", "created_at"))
        .filter(due_at__lt=now - QUEUED_MESSAGE_GRACE)
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    attachments = list(
        Attachment.objects.filter(
            state=Attachment.State.PENDING, download_attempts=0, created_at__lt=now - PENDING_UPDATE_GRACE
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    return SweepWork(updates=dict(pending), messages=messages, attachments=attachments)

"""Retention per open channel (issue 19, point 3): conversations closed more than ``OpenChannel.retention_days``
ago are erased by a beat task, with the same eraser as a client's erasure
(:func:`channels_app.engine.erasure.conversations_content_erase`).

Each batch is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and committed on its own, so two sweeps running at
once share the work and each conversation is erased exactly once (a claimed row is skipped by the other sweep; a
committed one no longer matches ``erased_at IS NULL``). A client left with no conversation that is not erased
(hence none open) has their identity erased too. One ``retention_swept`` audit event per open channel and run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from channels_app.engine.audit import audit_record
from channels_app.engine.erasure import ErasedContent, clients_identity_erase, conversations_content_erase
from channels_app.models import AuditAction, Client, Conversation, ConversationStatus, InboundUpdate, OpenChannel

RETENTION_BATCH = 100
INBOUND_UPDATES_BATCH = 1000


def retention_sweep(*, now: datetime, batch_size: int = RETENTION_BATCH) -> int:
    """Erase every open channel's conversations closed longer ago than its retention; returns how many."""
    total = 0
    for channel_id, days in OpenChannel.objects.filter(retention_days__isnull=False).values_list(
        "pk", "retention_days"
    ):
        if days is None:  # filtered out above; for the type checker
            continue
        total += _sweep_channel(channel_id, cutoff=now - timedelta(days=days), now=now, batch_size=batch_size)
    return total


def _sweep_channel(channel_id: int, *, cutoff: datetime, now: datetime, batch_size: int) -> int:
    erased = ErasedContent()
    client_ids: set[int] = set()
    while True:
        with transaction.atomic():
            claimed = list(
                Conversation.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    open_channel_id=channel_id,
                    status=ConversationStatus.CLOSED,
                    erased_at__isnull=True,
                    closed_at__lt=cutoff,
                )
                .order_by("closed_at", "pk")
                .values_list("pk", "client_id")[:batch_size]
            )
            if not claimed:
                break
            erased.add(conversations_content_erase([pk for pk, _client in claimed], now=now))
            client_ids.update(client for _pk, client in claimed)
    clients = _erase_clients_if_done(sorted(client_ids), now=now, batch_size=batch_size)
    if erased.conversations or clients:
        with transaction.atomic():
            audit_record(
                actor=None,
                action=AuditAction.RETENTION_SWEPT,
                now=now,
                open_channel_id=channel_id,
                detail={
                    "conversations": erased.conversations,
                    "messages": erased.messages,
                    "files": erased.files,
                    "clients": clients,
                    "cutoff": cutoff.isoformat(),
                },
            )
    return erased.conversations


def _erase_clients_if_done(client_ids: list[int], *, now: datetime, batch_size: int) -> int:
    """A client's identity goes once none of their conversations is left unerased (so none is open); returns how
    many. Clients are locked by id, in batches (as inbound locks a client before starting a conversation, one
    that writes again meanwhile keeps their identity); one locked by another sweep is left to it."""
    erased = 0
    for start in range(0, len(client_ids), batch_size):
        with transaction.atomic():
            clients = list(
                Client.objects.select_for_update(skip_locked=True)
                .filter(pk__in=client_ids[start : start + batch_size], erased_at__isnull=True)
                .exclude(Exists(Conversation.objects.filter(client_id=OuterRef("pk"), erased_at__isnull=True)))
                .order_by("pk")
            )
            clients_identity_erase(clients, now=now)
            erased += len(clients)
    return erased


def retention_change_record(*, open_channel: OpenChannel, old_days: int | None, actor, now: datetime) -> None:
    """An administrator changed how long the open channel keeps conversations: the audit log says who, when, and
    from what to what. In the caller's transaction (the admin's save)."""
    if old_days == open_channel.retention_days:
        return
    audit_record(
        actor=actor,
        action=AuditAction.RETENTION_CHANGED,
        now=now,
        open_channel_id=open_channel.pk,
        detail={"old_days": old_days, "new_days": open_channel.retention_days},
    )


def inbound_updates_prune(*, now: datetime, batch_size: int = INBOUND_UPDATES_BATCH) -> int:
    """Delete the providers' raw deliveries handled more than ``INBOUND_UPDATES_KEEP_DAYS`` ago; returns how many.

    They name the client and quote their texts, and they are kept only to recognise a provider's retry (the
    unique update id per connector), which comes within days. Pending ones stay whatever their age: they are work
    not done. Claimed in batches with ``skip_locked``, so two sweeps share the work. Keeping this table short also
    keeps an erasure's search of it (``erasure._blank_inbound_updates``) short."""
    cutoff = now - timedelta(days=settings.INBOUND_UPDATES_KEEP_DAYS)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                InboundUpdate.objects.select_for_update(skip_locked=True)
                .filter(received_at__lt=cutoff)
                .exclude(state=InboundUpdate.State.PENDING)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            InboundUpdate.objects.filter(pk__in=ids).delete()
        total += len(ids)

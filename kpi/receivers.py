"""Signal receivers: response records follow every new message (K1)."""

from __future__ import annotations

import logging

from django.utils import timezone

from kpi.services import responses_record

logger = logging.getLogger("kpi.receivers")

# Bot messages neither start nor end a wait; system messages often mark a
# close (M3, M4), which ends a wait unanswered.
RECORDED_AUTHOR_KINDS = frozenset({"client", "operator", "system"})


def record_responses_on_message(sender, *, message_id: int, conversation_id: int, author_kind: str, **kwargs) -> None:
    """Record the conversation's responses at once: a few small queries, sent after the message's commit.

    A KPI failure is logged and never disturbs the message flow; the sweep
    and the next message recompute the conversation anyway.
    """
    if author_kind not in RECORDED_AUTHOR_KINDS:
        return
    try:
        responses_record(conversation_id=conversation_id, now=timezone.now())
    except Exception:
        logger.exception("Could not record responses of conversation %s (message %s)", conversation_id, message_id)

"""Signals other apps listen to, so channels_app never imports them.

Both are sent by the services with ``transaction.on_commit``: a receiver sees
committed rows and may enqueue Celery work.

- ``message_created(message_id, conversation_id, author_kind)``: every new
  message (client, operator, bot, system). KPI records responses from it; the
  connectors send outbound messages from it.
- ``conversation_created(conversation_id)``: a new conversation. CRM creates
  automatic leads from it (C2).
- ``conversation_closed(conversation_id)``: a conversation became fully closed
  (after the rating step, if any). CRM e-mails the transcript to the lead (O2, O3).
"""

from django.dispatch import Signal

message_created = Signal()
conversation_created = Signal()
conversation_closed = Signal()

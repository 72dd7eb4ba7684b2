"""Signals other apps listen to, so channels_app never imports them.

Both are sent by the services with ``transaction.on_commit``: a receiver sees
committed rows and may enqueue Celery work.

- ``message_created(message_id, conversation_id, author_kind,
  conversation_status)``: every new message (client, operator, bot, system);
  ``conversation_status`` is the conversation's status when it was stored. The
  connectors send outbound messages from it (KPI does not listen: the services flag
  ``Conversation.responses_pending`` instead).
- ``conversation_created(conversation_id)``: a new conversation. CRM creates
  automatic leads from it (C2).
- ``conversation_closed(conversation_id)``: a conversation became fully closed
  (after the rating step, if any). CRM e-mails the transcript to the lead (O2, O3).
"""

from django.dispatch import Signal

message_created = Signal()
conversation_created = Signal()
conversation_closed = Signal()

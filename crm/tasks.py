"""Celery tasks of the CRM; they take ids and call services."""

from __future__ import annotations

from celery import shared_task

from crm.transcripts import lead_transcript_send


@shared_task(name="crm.tasks.send_lead_transcript", bind=True, max_retries=5, default_retry_delay=60)
def send_lead_transcript(self, conversation_id: int) -> int:
    """O2, O3: a mail server that is briefly down is retried, not lost."""
    try:
        return len(lead_transcript_send(conversation_id=conversation_id))
    except OSError as exc:  # smtplib errors and refused connections are OSErrors
        raise self.retry(exc=exc) from exc

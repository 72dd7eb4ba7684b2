"""O2, O3: the transcript e-mailed to the CRM lead when its conversation closes (content, language, recipients).

Mail goes through Django's e-mail backend (the test runner swaps ``EMAIL_URL``'s
backend for the in-memory outbox); the Celery task runs in place of ``delay``.
"""

from __future__ import annotations

import pytest
from django.core import mail

from channels_app.engine import conversations, offers
from channels_app.engine.attachments import human_size
from channels_app.engine.transcripts import transcript_text
from channels_app.models import Conversation, ConversationStatus
from crm import tasks
from crm.models import Lead
from crm.transcripts import lead_transcript_send
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.files_support import FAILURE_REASON, HOSTILE_PDF_NAME, attach_files_of_every_kind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def celery_in_place(monkeypatch):
    monkeypatch.setattr(tasks.send_lead_transcript, "delay", lambda cid: tasks.send_lead_transcript.apply(args=[cid]))


def conversation_with_lead(engine, *, language: str, lead_email: str = "anna.kowalska@example.pl", **settings):
    """Anna asks, Olga answers; the conversation is attached to a lead holding ``lead_email``."""
    olga = make_operator("olga")
    channel = make_channel([olga], name="Sklep Kraków", language=language, time_zone="Europe/Warsaw", **settings)
    conversation = engine.receive(channel, visitor="anna", text="Czy wysyłacie do Gdańska?")
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get(operator=olga).pk, operator=olga)
    engine.commit(
        conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text="Tak, w 2 dni."
    )
    lead = Lead.objects.create(title="Anna", full_name="Anna Kowalska", email=lead_email, source="Live chat")
    Conversation.objects.filter(pk=conversation.pk).update(lead=lead)
    return olga, conversation


def close(engine, conversation, operator) -> Conversation:
    return engine.commit(
        conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=operator
    )


def test_O2_O3_closing_e_mails_the_transcript_to_the_lead_in_polish(engine):
    olga, conversation = conversation_with_lead(engine, language="pl", rating_enabled=False)
    assert close(engine, conversation, olga).status == ConversationStatus.CLOSED
    [sent] = mail.outbox
    assert sent.to == ["anna.kowalska@example.pl"]
    assert sent.subject == "Twoja rozmowa z Sklep Kraków"
    assert sent.body.startswith("Oto zapis Twojej rozmowy z Sklep Kraków.")
    # Times are in the open channel's time zone: 10:00 UTC is 11:00 in Warsaw in November.
    assert "[2026-11-23 11:00] Ty: Czy wysyłacie do Gdańska?" in sent.body
    assert "Tak, w 2 dni." in sent.body
    assert "Dziękujemy za kontakt." in sent.body


def test_O3_transcript_in_vietnamese_for_a_vietnamese_channel(engine):
    olga, conversation = conversation_with_lead(
        engine, language="vi", lead_email="mai.tran@example.vn", rating_enabled=False
    )
    close(engine, conversation, olga)
    [sent] = mail.outbox
    assert sent.to == ["mai.tran@example.vn"]
    assert sent.subject == "Cuộc trò chuyện của bạn với Sklep Kraków"
    assert "Bạn: Czy wysyłacie do Gdańska?" in sent.body
    assert "Cảm ơn bạn đã liên hệ với chúng tôi." in sent.body


def test_R1_O2_with_a_rating_step_the_transcript_waits_until_the_client_rates(engine):
    olga, conversation = conversation_with_lead(engine, language="pl", close_on_rating=True)
    assert close(engine, conversation, olga).status == ConversationStatus.CLOSED_PENDING_RATING
    assert mail.outbox == []
    engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="like")
    [sent] = mail.outbox
    assert "Dziękujemy za opinię!" in sent.body


def test_O2_transcript_is_sent_once_even_if_closing_is_repeated(engine):
    olga, conversation = conversation_with_lead(engine, language="en", rating_enabled=False)
    close(engine, conversation, olga)
    close(engine, conversation, olga)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Your conversation with Sklep Kraków"


def test_O2_no_mail_without_a_lead_address_or_without_a_lead(engine):
    olga, conversation = conversation_with_lead(engine, language="pl", lead_email="", rating_enabled=False)
    close(engine, conversation, olga)
    assert mail.outbox == []
    Conversation.objects.filter(pk=conversation.pk).update(lead=None)
    assert lead_transcript_send(conversation_id=conversation.pk) == []
    assert mail.outbox == []


def test_O2_an_open_conversation_has_no_transcript_to_send_yet(engine):
    _olga, conversation = conversation_with_lead(engine, language="pl")
    assert lead_transcript_send(conversation_id=conversation.pk) == []
    assert lead_transcript_send(conversation_id=999_999_999) == []
    assert mail.outbox == []


def test_O2_a_mail_server_that_is_down_is_retried_then_given_up_and_nothing_is_sent(engine, monkeypatch):
    olga, conversation = conversation_with_lead(engine, language="pl", rating_enabled=False)
    monkeypatch.setattr(tasks.send_lead_transcript, "delay", lambda cid: None)
    close(engine, conversation, olga)
    attempts = []

    def refused(*args, **kwargs):
        attempts.append(args[3])
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("crm.transcripts.send_mail", refused)
    # Eager Celery runs the retries in place: the first attempt and five retries, then the task fails.
    result = tasks.send_lead_transcript.apply(args=[conversation.pk])
    assert result.state == "FAILURE"
    assert attempts == [["anna.kowalska@example.pl"]] * 6
    assert mail.outbox == []


@pytest.mark.usefixtures("media_root")
def test_O2_O3_the_transcript_lists_each_file_by_name_type_and_size_without_links(engine):
    olga, conversation = conversation_with_lead(engine, language="en", rating_enabled=False)
    message = conversation.messages.order_by("created_at", "id").first()
    files = attach_files_of_every_kind(message, message.created_at)
    close(engine, conversation, olga)
    [sent] = mail.outbox
    lines = sent.body.splitlines()
    first = lines.index("[2026-11-23 11:00] You: Czy wysyłacie do Gdańska?")
    assert lines[first + 1 : first + 6] == [
        f"    Image: kettle.png (image/png, {human_size(files.image.size)})",
        "    Voice message: voice.ogg (audio/ogg, 404 B)",
        f"    File: {HOSTILE_PDF_NAME} (application/pdf, 3 KB)",
        "    Image: scan.jpg (image/jpeg, not received yet)",
        "    Video: holiday.mp4 (video/mp4, not received)",
    ]
    assert "/files/" not in sent.body and FAILURE_REASON not in sent.body  # no links; the client needs no log
    assert not sent.attachments  # never the bytes


@pytest.mark.usefixtures("media_root")
def test_O3_the_file_lines_are_in_the_open_channel_s_language(engine):
    _olga, conversation = conversation_with_lead(engine, language="pl")
    message = conversation.messages.order_by("created_at", "id").first()
    attach_files_of_every_kind(message, message.created_at)
    _subject, body = transcript_text(Conversation.objects.get(pk=conversation.pk))
    assert "Ty: Czy wysyłacie do Gdańska?\n    Obraz: kettle.png (image/png, " in body
    assert "Image:" not in body

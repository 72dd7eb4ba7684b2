"""K1, K2 end to end: the channels services store and flag messages, the recording batch records responses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.engine.conversations import conversation_transfer, message_send_by_operator
from channels_app.engine.inbound import message_receive
from channels_app.models import Offer
from kpi.models import KpiMiss, ResponseRecord
from kpi.services import misses_notify, responses_record_pending


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Call a service and run its after-commit work (routing, signals), as in production."""

    def _run(service, **kwargs):
        kwargs.setdefault("now", timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return _run


def test_k1_k2_responses_follow_the_real_message_flow(kpi_channel, operators, run, time_machine, mailoutbox):
    time_machine.move_to("2026-03-02 10:00:00+00:00", tick=False)
    connector = kpi_channel.connectors.get()
    conversation = run(
        message_receive, connector=connector, external_user_id="anna", text="Hello?", source_message_id="m1"
    ).conversation
    offer = Offer.objects.filter(conversation=conversation, status=Offer.Status.PENDING).first()
    operator = offer.operator if offer else operators[0]

    time_machine.shift(timedelta(minutes=2))
    run(message_send_by_operator, conversation_id=conversation.pk, operator=operator, text="Hi Anna!")
    assert not ResponseRecord.objects.exists(), "the reply only flags the conversation"
    assert run(responses_record_pending) == 1
    initial = ResponseRecord.objects.get(conversation=conversation)
    assert (initial.kind, initial.operator_id, initial.response_seconds, initial.is_miss) == (
        "initial",
        operator.pk,
        120.0,
        False,
    )

    time_machine.shift(timedelta(minutes=1))
    run(
        message_receive,
        connector=connector,
        external_user_id="anna",
        text="Where is my parcel?",
        source_message_id="m2",
    )
    colleague = next(user for user in operators if user != operator)
    run(conversation_transfer, conversation_id=conversation.pk, operator=operator, to_operator_id=colleague.pk)
    time_machine.shift(timedelta(minutes=6))  # the subsequent target is 5 minutes
    run(message_send_by_operator, conversation_id=conversation.pk, operator=colleague, text="On its way.")
    assert run(responses_record_pending) == 1, "two messages and a transfer, one recording"

    later = ResponseRecord.objects.filter(conversation=conversation, kind="subsequent").get()
    assert (later.operator_id, later.response_seconds, later.is_miss) == (colleague.pk, 360.0, True)
    miss = KpiMiss.objects.get()
    assert miss.operator_id == colleague.pk
    assert mailoutbox == [], "the notifying sweep sends the e-mail, not the operator's request"
    run(misses_notify)
    assert len(mailoutbox) == 1

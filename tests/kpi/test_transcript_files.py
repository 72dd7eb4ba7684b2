"""O2, issue 14: the KPI transcript shows each message's files (thumbnail, player, download link, states)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.files_support import assert_files_shown, attach_files_of_every_kind
from tests.kpi.conftest import minutes

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("media_root")
def test_o2_the_transcript_shows_the_files_of_each_message(client, supervisor, start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    client_files = attach_files_of_every_kind(chat.client(minutes(0), text="Photos of the broken kettle"), minutes(0))
    operator_files = attach_files_of_every_kind(chat.operator(olga, minutes(1), text="Our returns form"), minutes(1))
    client.force_login(supervisor)
    response = client.get(reverse("kpi:conversation", args=[chat.conversation.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert_files_shown(page, client_files)
    assert_files_shown(page, operator_files)
    assert "files/attachments.css" in page
    assert "attachments</div>" not in page  # the old "N attachments" count is gone


def test_o2_the_transcript_s_queries_do_not_grow_with_messages_and_files(
    client,
    supervisor,
    start_chat,
    operators,
    media_root,
):
    olga = operators[0]
    chat = start_chat(olga)
    url = reverse("kpi:conversation", args=[chat.conversation.pk])
    client.force_login(supervisor)

    def add_messages(count: int, start: int) -> None:
        for index in range(start, start + count):
            attach_files_of_every_kind(chat.client(minutes(index)), minutes(index))
            attach_files_of_every_kind(chat.operator(olga, minutes(index + 0.5)), minutes(index + 0.5))

    add_messages(1, start=0)
    client.get(url)  # the supervisor's first look is written to the audit log (issue 19); both reads below are not
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    add_messages(15, start=1)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.content.decode().count('class="attachment ') == 32 * 5
    assert len(many.captured_queries) == len(few.captured_queries)

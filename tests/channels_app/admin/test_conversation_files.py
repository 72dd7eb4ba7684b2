"""Issue 14: a conversation's files on its admin page (per message and as one list), and deleted with it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels_app.models import Attachment, Conversation
from tests.factories import ClientFactory, ConversationFactory
from tests.files_support import assert_files_shown, attach_files_of_every_kind

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation_with_files(open_channel, media_root):
    conversation = ConversationFactory(client=ClientFactory(connector=open_channel.connectors.get()))
    now = timezone.now()
    message = conversation.messages.create(
        connector=conversation.connector, author_kind="client", text="Here you are", created_at=now
    )
    return conversation, attach_files_of_every_kind(message, now)


def change_url(conversation: Conversation) -> str:
    return f"/admin/channels_app/conversation/{conversation.pk}/change/"


def test_the_admin_shows_each_message_s_files_and_the_conversation_s_files(admin_client, conversation_with_files):
    conversation, files = conversation_with_files
    response = admin_client.get(change_url(conversation))
    assert response.status_code == 200
    page = response.content.decode()
    assert_files_shown(page, files)
    # Drawn twice: in the message's row and in the list of the conversation's files.
    assert page.count(f'<img src="{files.image.thumbnail_url}"') == 2
    assert page.count('class="conversation-files"') == 1
    assert "files/attachments.css" in page


def test_the_admin_page_of_a_conversation_without_files_says_so(admin_client, open_channel):
    conversation = ConversationFactory(client=ClientFactory(connector=open_channel.connectors.get()))
    response = admin_client.get(change_url(conversation))
    assert response.status_code == 200
    assert 'class="conversation-files"' not in response.content.decode()


@pytest.mark.usefixtures("media_root")
def test_message_files_cost_no_query_per_message(admin_client, open_channel, django_assert_max_num_queries):
    conversation = ConversationFactory(client=ClientFactory(connector=open_channel.connectors.get()))
    now = timezone.now()
    for text in ("one", "two"):
        message = conversation.messages.create(
            connector=conversation.connector, author_kind="client", text=text, created_at=now
        )
        attach_files_of_every_kind(message, now)
    with django_assert_max_num_queries(1000) as few:
        admin_client.get(change_url(conversation))
    for index in range(10):
        message = conversation.messages.create(
            connector=conversation.connector, author_kind="client", text=f"more {index}", created_at=now
        )
        attach_files_of_every_kind(message, now)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(change_url(conversation)).status_code == 200


def test_deleting_a_conversation_in_the_admin_deletes_its_files_bytes(
    admin_client,
    conversation_with_files,
    media_root,
    django_capture_on_commit_callbacks,
):
    conversation, files = conversation_with_files
    stored = [media_root / name for a in files.all for name in (a.file.name, a.thumbnail.name) if name]
    assert len(stored) == 4 and all(path.exists() for path in stored)  # photo + thumbnail, voice, PDF
    delete_url = f"/admin/channels_app/conversation/{conversation.pk}/delete/"
    confirm = admin_client.get(delete_url)
    assert confirm.status_code == 200
    assert "&lt;script&gt;alert(1)" in confirm.content.decode() and "<script>alert(1)" not in confirm.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Attachment.objects.filter(pk__in=[a.pk for a in files.all]).exists()
    assert not any(path.exists() for path in stored)

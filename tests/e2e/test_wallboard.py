"""The supervisor's live wallboard (issue 18) in Debian's Chromium, against a real uvicorn server.

A Telegram update reaches the server's webhook door; the wallboard of the channel's supervisor shows the new
waiting conversation within a second, then the operator's load when she accepts it in her console. The
supervisor of another channel sees neither. Then the supervisor takes a conversation over and leaves a note.
"""

from __future__ import annotations

import json
import re
import time
from types import SimpleNamespace

import httpx
import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from channels_app.models import ConversationNote, OperatorProfile, StatusChange
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def floor():
    support = OpenChannelFactory(name="Website support", welcome_enabled=False)
    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=support, operator=olga, position=0)
    # Olga's console is closed: a new conversation waits in the queue until she comes.
    OperatorProfile.objects.filter(user=olga).update(is_online=False, console_heartbeat_at=None)
    telegram = ConnectorFactory(open_channel=support, kind="telegram", account_id="support_bot")
    people = {}
    for name, channel in (("rita", support), ("sam", sales)):
        user = UserFactory(username=name, first_name=name.title())
        user.groups.add(Group.objects.get(name="Supervisors"))
        channel.supervisors.add(user)
        people[name] = user
    return SimpleNamespace(support=support, sales=sales, olga=olga, telegram=telegram, **people)


def open_wallboard(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/kpi/live/")
    expect(page.locator("#wallboard-state")).to_have_class("badge live")
    return page


def telegram_update(server_url: str, connector, update_id: int, name: str, text: str) -> None:
    sender = {"id": 7000 + update_id, "is_bot": False, "first_name": name}
    update = {
        "update_id": update_id,
        "message": {"message_id": update_id, "from": sender, "chat": {**sender, "type": "private"}, "date": 1,
                    "text": text},
    }  # fmt: skip
    response = httpx.post(
        f"{server_url}/webhooks/telegram/{connector.pk}/",
        content=json.dumps(update),
        headers={"Content-Type": "application/json", SECRET_HEADER: connector.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_wallboard_shows_a_new_waiting_conversation_within_a_second_then_the_operators_load(
    new_context, cc_server, floor
):
    rita = open_wallboard(new_context, floor.rita)
    sam = open_wallboard(new_context, floor.sam)
    support_board = rita.locator("section.board", has_text="Website support")
    expect(support_board.locator(".tile").first).to_contain_text("0")
    olga_row = support_board.locator("table.operators tr", has_text="Olga")
    expect(olga_row.locator(".presence")).to_have_text("Offline")

    telegram_update(cc_server.url, floor.telegram, 1, "Zofia", "Is my parcel lost?")
    answered = time.monotonic()
    # Within a second of the webhook's answer: nudge after commit → socket → snapshot → page.
    waiting_row = support_board.locator("tr", has_text="Zofia")
    expect(waiting_row).to_be_visible(timeout=1_000)
    print(f"\nwallboard showed the waiting conversation {time.monotonic() - answered:.3f} s after the webhook")
    expect(waiting_row.locator(".age")).to_have_text(re.compile(r"^\d+:\d\d$"))

    # Olga comes online: the conversation is offered to her; she accepts it in her console.
    console = new_context(floor.olga).new_page()
    console.goto("/console/")
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    expect(olga_row.locator(".presence")).to_have_text("Online")
    console.locator("#list-offered .conv-item").click()
    console.locator("#btn-accept").click()
    expect(console.locator("#list-mine .conv-item")).to_have_count(1)
    expect(olga_row.locator(".load")).to_have_text(" 1")
    expect(
        support_board.locator("section.panel", has_text="With operators").locator("tr", has_text="Zofia")
    ).to_be_visible()
    expect(support_board.locator("section.panel", has_text="Waiting").first).to_contain_text("Nobody is waiting.")

    # Sam supervises Sales: nothing of Support reached his board.
    expect(sam.locator("section.board")).to_have_count(1)
    expect(sam.locator("section.board")).to_contain_text("Sales")
    assert "Zofia" not in sam.locator("#wallboard").inner_text()
    assert "Olga" not in sam.locator("#wallboard").inner_text()


def test_supervisor_takes_over_from_the_wallboard_and_answers_in_the_console(new_context, cc_server, floor):
    rita = open_wallboard(new_context, floor.rita)
    telegram_update(cc_server.url, floor.telegram, 2, "Hanna", "I need a refund.")
    row = rita.locator("section.board tr", has_text="Hanna")
    expect(row).to_be_visible()

    row.get_by_role("button", name="Note").click()
    rita.locator("#note-text").fill("VIP client, refund without questions.")
    rita.locator("#note-save").click()
    expect(rita.locator("#toast")).to_have_text("Note saved.")

    row.get_by_role("button", name="Take over").click()
    expect(rita.locator("#toast")).to_contain_text("You hold the conversation now.")
    held = rita.locator("section.panel", has_text="With operators").locator("tr", has_text="Hanna")
    expect(held).to_contain_text("Rita")
    change = StatusChange.objects.filter(to_status="active").latest("at", "id")
    assert (change.actor_id, change.operator_id) == (floor.rita.pk, floor.rita.pk)

    with rita.expect_navigation():
        rita.locator("#toast a").click()
    expect(rita.locator("#connection")).to_have_attribute("data-state", "open")
    expect(rita.locator("#messages .msg-client .bubble")).to_have_text(["I need a refund."])
    expect(rita.locator("#messages .msg-note .bubble")).to_have_text(["VIP client, refund without questions."])
    rita.locator("#reply").fill("Your refund is on its way.")
    rita.locator("#reply").press("Enter")
    expect(rita.locator("#messages .msg-operator:not(.is-pending) .bubble")).to_have_text(
        ["Your refund is on its way."]
    )
    assert ConversationNote.objects.get().author_id == floor.rita.pk

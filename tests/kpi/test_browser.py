"""K3, O2, R3 in a real browser (Chromium): a supervisor reads the KPI, drills down and rates a conversation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from kpi.models import SupervisorRating
from kpi.services import responses_record
from tests.factories import UserFactory
from tests.kpi.conftest import minutes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_k3_r3_supervisor_reads_the_kpi_drills_down_and_rates(page, live_server, start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0), "My parcel has not arrived.")
    chat.operator(olga, minutes(5), "Let me check that for you.")  # misses the 3-minute target
    responses_record(conversation_id=chat.conversation.pk, now=minutes(6))
    # The sign-in admits administrators and the supervisors of a channel (never by is_staff).
    rita = UserFactory(username="rita", first_name="Rita", password="kpi-pass-123")
    rita.groups.add(Group.objects.get(name="Supervisors"))
    chat.conversation.open_channel.supervisors.add(rita)  # she supervises Support (issue 13: roles are per channel)

    page.goto(f"{live_server.url}/kpi/?start=2026-03-01&end=2026-03-31")
    page.fill("#id_username", "rita")
    page.fill("#id_password", "kpi-pass-123")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Response-time KPI")).to_be_visible()
    olga_row = page.locator("table.data tbody tr", has_text="Olga")
    expect(olga_row).to_contain_text("5 min 00 s")
    expect(olga_row.locator(".badge-alert")).to_have_text("1")
    expect(page.locator("svg.chart polyline")).to_have_count(1)

    olga_row.get_by_role("link", name="Olga").click()
    expect(page.get_by_role("heading", name="Conversations · Olga")).to_be_visible()
    page.get_by_role("link", name=f"#{chat.conversation.pk}").click()

    expect(page.get_by_text("My parcel has not arrived.")).to_be_visible()
    expect(page.locator("tr.row-miss")).to_contain_text("missed")
    page.locator("label.score-option", has_text="4").click()
    page.fill("#id_comment", "Friendly, but slow to start.")
    page.get_by_role("button", name="Save rating").click()

    expect(page.locator(".flash")).to_contain_text(f"Your rating of conversation #{chat.conversation.pk} is saved.")
    expect(page.locator(".rating-comment")).to_have_text("Friendly, but slow to start.")
    rating = SupervisorRating.objects.get()
    assert (rating.operator_id, rating.supervisor_id, rating.score) == (olga.pk, rita.pk, 4)

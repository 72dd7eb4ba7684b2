"""The open channel's working hours in the admin (issue 20, H1): the grid's rows, overlaps, the zone named."""

from __future__ import annotations

import json
import re

import pytest

from tests.channels_app.admin.test_admin import change_url, errors_of, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_H1_overlapping_periods_of_one_day_are_refused_naming_the_day(admin_client, open_channel):
    rows = [{"weekday": 2, "start": "09:00", "end": "13:00"}, {"weekday": 2, "start": "12:00", "end": "17:00"}]

    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"working_periods": rows}))

    assert "Wednesday: 09:00–13:00 and 12:00–17:00 overlap" in errors_of(response)
    assert not open_channel.working_periods.exists()


def test_H1_a_weekday_with_a_lunch_break_and_a_day_until_midnight_are_saved(admin_client, open_channel):
    rows = [
        {"weekday": 0, "start": "09:00", "end": "13:00"},
        {"weekday": 0, "start": "13:00", "end": "17:00"},  # touching is fine
        {"weekday": 5, "start": "18:00", "end": "00:00"},  # until midnight
        {"weekday": 6, "start": "10:00", "end": "12:00"},
        {"weekday": 6, "start": "08:00", "end": "09:00"},  # out of order on the page
    ]

    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"working_periods": rows}))

    assert response.status_code == 302, errors_of(response)
    assert open_channel.working_periods.count() == 5


def test_the_page_hands_the_grid_its_words_and_names_the_zone(admin_client, open_channel):
    open_channel.time_zone = "Europe/Warsaw"
    open_channel.save()

    page = admin_client.get(change_url(open_channel)).content.decode()

    data = re.search(r'<script id="open-channel-editor-texts" type="application/json">(.*?)</script>', page, re.S)
    texts = json.loads(data.group(1))
    assert texts["hours"]["weekdays"][0] == "Monday"
    assert texts["hours"]["copyMonday"] == "Copy Monday to weekdays"
    assert texts["queue"]["up"] == "Move up"
    assert "admin_editors/hours.js" in page and "admin_editors/queue.js" in page
    assert "Working hours (in the channel&#x27;s time zone)" in page
    assert '<option value="Europe/Warsaw" selected>' in page


def test_the_words_follow_the_admins_language(admin_client, open_channel):
    admin_client.cookies["django_language"] = "pl"
    page = admin_client.get(change_url(open_channel)).content.decode()
    found = re.search(r'id="open-channel-editor-texts" type="application/json">(.*?)</script>', page, re.S)
    texts = json.loads(found[1])
    assert texts["hours"]["weekdays"][0] == "Poniedziałek"


@pytest.mark.parametrize(
    ("script", "texts"),
    [("static/admin_editors/hours.js", "working_hours_texts"), ("static/admin_editors/queue.js", "queue_editor_texts")],
)
def test_every_word_a_script_uses_is_handed_to_it(script, texts):
    from pathlib import Path

    from channels_app.admin import queue_members, working_hours

    provider = getattr(working_hours, texts, None) or getattr(queue_members, texts)
    used = set(re.findall(r"\bwords\.(\w+)", (Path(__file__).resolve().parents[3] / script).read_text()))
    assert used, script
    assert used <= set(provider()), f"{script} uses words the page does not give it: {used - set(provider())}"

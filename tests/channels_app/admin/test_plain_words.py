"""Plain words in the open channel's admin (issue 20): no requirement IDs, ranges said in the user's units."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from channels_app import models as m
from tests.channels_app.admin.test_admin import change_url, errors_of, form_data

REQUIREMENT_ID = re.compile(r"\b[A-Z][0-9]{1,2}\b")
MODELS = (m.OpenChannel, m.QueueMember, m.WorkingPeriod, m.Holiday, m.Chatbot, m.Conversation)


def user_facing_texts(model) -> list[tuple[str, str]]:
    texts = []
    for field in model._meta.get_fields():
        for attribute in ("verbose_name", "help_text"):
            value = getattr(field, attribute, None)
            if value:
                texts.append((f"{model.__name__}.{field.name}.{attribute}", str(value)))
        for validator in getattr(field, "validators", ()):
            message = getattr(validator, "message", None)
            if message:
                texts.append((f"{model.__name__}.{field.name} validator", str(message)))
    return texts


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_no_requirement_id_in_help_texts_or_validation_messages(model):
    found = [(where, text) for where, text in user_facing_texts(model) if REQUIREMENT_ID.search(text)]
    assert not found


RANGES = [
    # field, below, above, the message (both ends, the unit, the range in plain time)
    ("offer_timeout_seconds", 59, 43201, "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."),
    ("unprocessed_after_seconds", 10, 50000, "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)."),
    ("offline_after_minutes", 0, 1441, "Enter a number of minutes between 1 and 1440 (24 hours)."),
    ("chat_limit", 0, 101, "Enter a number of conversations between 1 and 100."),
    ("absent_return_after_days", 0, 366, "Enter a number of days between 1 and 365."),
    ("auto_close_after_days", 0, 366, "Enter a number of days between 1 and 365."),
    ("retention_days", 0, 3651, "Enter a number of days between 1 and 3650 (ten years)."),
    ("rating_timeout_minutes", 0, 7 * 24 * 60 + 1, "Enter a number of minutes between 1 and 10080 (7 days)."),
    ("max_file_megabytes", 0, 101, "Enter a size in megabytes between 1 and 100."),
    ("kpi_initial_target_seconds", 9, 43201, "Enter a number of seconds between 10 and 43200 (12 hours)."),
    ("kpi_subsequent_target_seconds", 9, 43201, "Enter a number of seconds between 10 and 43200 (12 hours)."),
]


@pytest.mark.parametrize(("field", "below", "above", "message"), RANGES, ids=[row[0] for row in RANGES])
def test_a_number_out_of_range_is_refused_with_the_whole_range_in_plain_words(field, below, above, message):
    validators = [
        v
        for v in m.OpenChannel._meta.get_field(field).validators
        if isinstance(v, MinValueValidator | MaxValueValidator)
    ]
    for value in (below, above):
        with pytest.raises(ValidationError) as refused:
            for validator in validators:
                validator(value)
        assert refused.value.messages == [message]
    help_text = str(m.OpenChannel._meta.get_field(field).help_text)
    assert "between" in help_text.lower()


@pytest.mark.django_db
def test_the_admin_says_the_range_for_a_ten_second_offer_timeout(client, admin_user, open_channel):
    client.force_login(admin_user)
    response = client.post(change_url(open_channel), form_data(open_channel, offer_timeout_seconds=10))
    text = errors_of(response)
    assert "Enter a number of seconds between 60 (1 minute) and 43200 (12 hours)." in text
    assert "Ensure this value" not in text


@pytest.mark.django_db
def test_the_change_page_shows_no_requirement_id_in_help_texts(client, admin_user, open_channel):
    client.force_login(admin_user)
    page = client.get(change_url(open_channel)).content.decode()
    helps = re.findall(r'<div class="help"[^>]*>(.*?)</div>', page, re.S)
    helps += re.findall(r'class="help help-tooltip"[^>]*title="([^"]*)"', page)
    assert helps, "the page shows help texts"
    shown = [" ".join(re.sub(r"<[^>]+>", " ", text).split()) for text in helps]
    assert not [text for text in shown if REQUIREMENT_ID.search(text)]


@pytest.mark.django_db
def test_every_admin_page_names_the_zone_its_times_are_in(client, admin_user, settings):
    settings.TIME_ZONE = "Europe/Warsaw"
    client.force_login(admin_user)
    page = client.get("/admin/channels_app/conversation/").content.decode()
    assert '<span class="time-zone-note">Times in Europe/Warsaw</span>' in page

"""django-import-export round trips (CSV and XLSX) for canned replies, holidays, contacts and leads."""

from __future__ import annotations

import datetime

import pytest
import tablib

from channels_app import models as m
from channels_app.admin.resources import CannedReplyResource, HolidayResource
from crm.models import Contact, Lead
from crm.resources import ContactResource, LeadResource
from tests.factories import CannedReplyListFactory, ContactFactory, OpenChannelFactory, UserFactory

pytestmark = pytest.mark.django_db

FORMATS = ["csv", "xlsx"]


def round_trip(resource, queryset, file_format: str) -> tablib.Dataset:
    """Export, delete everything, import the file back; return the re-read dataset."""
    exported = resource.export(queryset=queryset)
    payload = exported.export(file_format)
    queryset.model.objects.all().delete()
    dataset = tablib.Dataset().load(payload, format=file_format)
    result = resource.import_data(dataset, dry_run=False, raise_errors=True)
    assert not result.has_errors() and not result.has_validation_errors()
    return dataset


@pytest.mark.parametrize("file_format", FORMATS)
def test_M5_canned_replies_round_trip(file_format):
    """M5: canned reply lists survive an export and re-import unchanged."""
    replies = CannedReplyListFactory(name="Standard")
    m.CannedReply.objects.create(reply_list=replies, shortcut="hello", title="Hi", text="Hello! Zażółć gęślą jaźń.")
    m.CannedReply.objects.create(reply_list=replies, shortcut="bye", title="Bye", text="Tạm biệt!")
    round_trip(CannedReplyResource(), m.CannedReply.objects.all(), file_format)
    assert sorted(m.CannedReply.objects.values_list("reply_list__name", "shortcut", "text")) == [
        ("Standard", "bye", "Tạm biệt!"),
        ("Standard", "hello", "Hello! Zażółć gęślą jaźń."),
    ]


def test_M5_import_updates_by_list_and_shortcut_and_creates_unknown_lists():
    replies = CannedReplyListFactory(name="Standard")
    m.CannedReply.objects.create(reply_list=replies, shortcut="hello", text="Old text")
    dataset = tablib.Dataset(headers=["list", "shortcut", "title", "text"])
    dataset.append(["Standard", "hello", "Greeting", "New text"])
    dataset.append(["Sales", "price", "Prices", "See our price list."])
    result = CannedReplyResource().import_data(dataset, dry_run=False, raise_errors=True)
    assert not result.has_errors()
    assert m.CannedReply.objects.get(shortcut="hello").text == "New text"
    assert m.CannedReply.objects.get(shortcut="price").reply_list.name == "Sales"
    assert m.CannedReply.objects.count() == 2


@pytest.mark.parametrize("file_format", FORMATS)
def test_H1_holidays_round_trip(file_format):
    channel = OpenChannelFactory(name="Support")
    m.Holiday.objects.create(open_channel=channel, date=datetime.date(2026, 12, 25), name="Christmas")
    m.Holiday.objects.create(open_channel=channel, date=datetime.date(2027, 1, 1), name="New Year")
    round_trip(HolidayResource(), m.Holiday.objects.all(), file_format)
    assert list(m.Holiday.objects.order_by("date").values_list("open_channel__name", "date", "name")) == [
        ("Support", datetime.date(2026, 12, 25), "Christmas"),
        ("Support", datetime.date(2027, 1, 1), "New Year"),
    ]


def test_H1_holiday_import_with_unknown_open_channel_reports_the_row_and_writes_nothing():
    dataset = tablib.Dataset(headers=["open_channel", "date", "name"])
    dataset.append(["No such channel", "2026-12-25", "Christmas"])
    result = HolidayResource().import_data(dataset, dry_run=False)
    assert result.has_errors() or result.has_validation_errors()
    assert not m.Holiday.objects.exists()


@pytest.mark.parametrize("file_format", FORMATS)
def test_C1_contacts_round_trip(file_format):
    olga = UserFactory(username="olga")
    ContactFactory(full_name="Jan Kowalski", phone="+48600100200", email="jan@example.pl", responsible=olga)
    ContactFactory(full_name="Nguyễn Văn An", phone="+84901234567")
    round_trip(ContactResource(), Contact.objects.all(), file_format)
    assert sorted(Contact.objects.values_list("full_name", "phone", "responsible__username")) == [
        ("Jan Kowalski", "+48600100200", "olga"),
        ("Nguyễn Văn An", "+84901234567", None),
    ]


@pytest.mark.parametrize("file_format", FORMATS)
def test_C2_leads_round_trip(file_format):
    piotr = UserFactory(username="piotr")
    Lead.objects.create(title="Enquiry from Telegram", full_name="Anna", source="telegram", responsible=piotr)
    round_trip(LeadResource(), Lead.objects.all(), file_format)
    lead = Lead.objects.get()
    assert (lead.title, lead.full_name, lead.source, lead.responsible.username) == (
        "Enquiry from Telegram",
        "Anna",
        "telegram",
        "piotr",
    )


def test_export_through_the_admin_as_xlsx(client, admin_user):
    replies = CannedReplyListFactory(name="Standard")
    m.CannedReply.objects.create(reply_list=replies, shortcut="hello", text="Hello!")
    client.force_login(admin_user)
    page = client.get("/admin/channels_app/cannedreply/export/")
    assert page.status_code == 200
    form = page.context["form"]
    format_index = next(index for index, choice in form.fields["format"].choices if choice == "xlsx")
    response = client.post(
        "/admin/channels_app/cannedreply/export/",
        {
            "format": format_index,
            "resource": 0,
            **{f"cannedreplyresource_{f}": "on" for f in ("reply_list", "shortcut", "title", "text")},
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    dataset = tablib.Dataset().load(response.content, format="xlsx")
    assert dataset.dict[0]["shortcut"] == "hello"

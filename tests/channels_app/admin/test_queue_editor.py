"""The open channel's queue editor (issue 20, Q1): only people who can operate, positions kept unique 1..n."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from channels_app import models as m
from channels_app.engine import roles
from tests.channels_app.admin.test_admin import ADD_URL, change_url, errors_of, form_data
from tests.factories import OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def member_rows(channel: m.OpenChannel) -> list[dict]:
    return [
        {"id": member.pk, "open_channel": channel.pk, "operator": member.operator_id, "position": member.position}
        for member in channel.queue_members.all()
    ]


def queue_of(channel: m.OpenChannel) -> list[tuple[int, str]]:
    return [(member.position, member.operator.username) for member in channel.queue_members.order_by("position")]


def supervisor_named(username: str):
    user = UserFactory(username=username, first_name="Sam", last_name="Visor")
    user.groups.add(Group.objects.get(name=roles.SUPERVISORS))
    return user


def test_the_picker_offers_only_people_who_operate_by_name_and_presence(admin_client, admin_user):
    channel = OpenChannelFactory(name="Support")
    OperatorFactory(username="olga", first_name="Olga", last_name="Nowak", profile__display_name="Olga N.")
    OperatorFactory(username="piotr", first_name="Piotr", last_name="Kowalski", profile__is_online=False)
    in_group = UserFactory(username="quynh", first_name="Quynh", last_name="Nguyen")
    in_group.groups.add(Group.objects.get(name=roles.OPERATORS))
    supervisor_named("sam")
    OperatorFactory(username="gone", is_active=False)

    page = admin_client.get(change_url(channel)).content.decode()
    picker = page.split('name="queue_members-__prefix__-operator"', 1)[1].split("</select>", 1)[0]

    assert "Olga N. (olga) · online" in picker
    assert "Piotr Kowalski (piotr) · offline" in picker
    assert "Quynh Nguyen (quynh) · offline" in picker, "the Operators group is enough, a profile comes on sign-in"
    assert "sam" not in picker and "Visor" not in picker
    assert admin_user.username not in picker
    assert "gone" not in picker


def test_a_supervisor_who_does_not_operate_is_refused_and_told_why(admin_client, open_channel):
    sam = supervisor_named("sam")
    rows = [*member_rows(open_channel), {"operator": sam.pk, "position": 1}]

    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"queue_members": rows}))

    assert "Sam Visor cannot take conversations: they have no operator profile" in errors_of(response)
    assert "Give them an operator profile under Operator profiles first" in errors_of(response)
    assert not open_channel.queue_members.filter(operator=sam).exists()


def test_a_supervisor_who_also_operates_is_accepted(admin_client, open_channel):
    sam = supervisor_named("sam")
    m.OperatorProfile.objects.create(user=sam)
    rows = [*member_rows(open_channel), {"operator": sam.pk, "position": ""}]

    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"queue_members": rows}))

    assert response.status_code == 302, errors_of(response)
    assert queue_of(open_channel)[-1] == (len(rows), "sam"), "an empty position joins at the end"


def test_a_member_who_no_longer_operates_is_shown_and_refused_on_save(admin_client, open_channel):
    sam = supervisor_named("sam")
    QueueMemberFactory(open_channel=open_channel, operator=sam, position=50)

    page = admin_client.get(change_url(open_channel)).content.decode()
    assert "Sam Visor (sam)" in page, "the current member still shows in its row"
    response = admin_client.post(
        change_url(open_channel), form_data(open_channel, inlines={"queue_members": member_rows(open_channel)})
    )
    assert "Sam Visor cannot take conversations" in errors_of(response)


def test_positions_are_stored_one_to_n_in_the_order_shown(admin_client):
    ewa, jan, ola = (OperatorFactory(username=name) for name in ("ewa", "jan", "ola"))
    # Typed by hand without JavaScript: every row at 0, as the old form left them; page order decides.
    rows = [{"operator": user.pk, "position": 0} for user in (jan, ewa, ola)]

    response = admin_client.post(ADD_URL, form_data(name="Open channel 1", inlines={"queue_members": rows}))

    assert response.status_code == 302, errors_of(response)
    assert queue_of(m.OpenChannel.objects.get()) == [(1, "jan"), (2, "ewa"), (3, "ola")]


def test_moving_a_row_renumbers_the_rows_left_unchanged_too(admin_client, open_channel):
    before = queue_of(open_channel)
    rows = member_rows(open_channel)
    rows[-1]["position"] = 0  # the last one typed to the top
    for row in rows[:-1]:
        row["position"] += 1

    response = admin_client.post(change_url(open_channel), form_data(open_channel, inlines={"queue_members": rows}))

    assert response.status_code == 302, errors_of(response)
    names = [name for _position, name in before]
    assert queue_of(open_channel) == list(enumerate([names[-1], *names[:-1]], start=1))


def test_the_same_operator_twice_is_refused_by_name(admin_client):
    olga = OperatorFactory(username="olga", profile__display_name="Olga N.")
    rows = [{"operator": olga.pk, "position": 1}, {"operator": olga.pk, "position": 2}]

    response = admin_client.post(ADD_URL, form_data(name="Open channel 1", inlines={"queue_members": rows}))

    assert "Olga N. appears twice in the queue: keep one row." in errors_of(response)
    assert not m.OpenChannel.objects.exists()


def test_last_assigned_is_shown_in_the_channels_time_zone_with_its_name(admin_client, open_channel):
    open_channel.time_zone = "Europe/Warsaw"
    open_channel.save()
    member = open_channel.queue_members.first()
    member.last_assigned_at = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    member.save()

    page = admin_client.get(change_url(open_channel)).content.decode()

    assert "12/03/2026 08:00 (Europe/Warsaw)" in page


def test_the_migration_numbers_every_queue_in_its_routing_order():
    first, second = OpenChannelFactory(name="A"), OpenChannelFactory(name="B")
    a1, a2, a3 = (QueueMemberFactory(open_channel=first, position=0) for _ in range(3))
    b1, b2 = QueueMemberFactory(open_channel=second, position=7), QueueMemberFactory(open_channel=second, position=3)
    migration = importlib.import_module("channels_app.migrations.0030_plain_words_and_queue_order")

    migration.number_queues(apps, None)

    positions = dict(m.QueueMember.objects.values_list("pk", "position"))
    assert [positions[member.pk] for member in (a1, a2, a3)] == [1, 2, 3]
    assert [positions[member.pk] for member in (b2, b1)] == [1, 2]

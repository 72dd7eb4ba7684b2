"""The admin's forms offer only the viewer's channels' rows: a posted id of another channel's operator,
contact, channel or conversation is a form error and nothing is saved (lists were scoped, choices were not)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Group, Permission

from channels_app.engine.roles import SUPERVISORS
from channels_app.models import LeavePeriod
from crm.models import Contact, Lead
from kpi.models import SupervisorRating
from tests.factories import (
    ClientFactory,
    ContactFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOT_A_CHOICE = "Select a valid choice. That choice is not one of the available choices."


def team(name: str) -> SimpleNamespace:
    channel = OpenChannelFactory(name=name)
    operator = OperatorFactory(username=f"{name.lower()}-op")
    QueueMemberFactory(open_channel=channel, operator=operator)
    client = ClientFactory(connector__open_channel=channel)
    contact = ContactFactory(full_name=f"{name} contact")
    client.contact = contact
    client.save()
    return SimpleNamespace(
        channel=channel, operator=operator, contact=contact, conversation=ConversationFactory(client=client)
    )


@pytest.fixture
def teams(db):
    return SimpleNamespace(a=team("Alpha"), b=team("Bravo"))


@pytest.fixture
def supervisor_a(client, teams):
    """Sara supervises Alpha only; she may also add leads (granted on purpose, to reach the lead form)."""
    sara = UserFactory(username="sara")
    sara.groups.add(Group.objects.get(name=SUPERVISORS))
    sara.user_permissions.add(Permission.objects.get(codename="add_lead", content_type__app_label="crm"))
    teams.a.channel.supervisors.add(sara)
    client.force_login(sara)
    return sara


def errors_of(response, field: str) -> list[str]:
    return list(response.context["adminform"].form.errors.get(field, []))


def leave_form(operator) -> dict:
    return {
        "operator": operator.pk,
        "starts_at_0": "2026-05-04",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2026-05-08",
        "ends_at_1": "17:00:00",
        "reason": "holiday",
    }


def test_a_supervisor_cannot_give_another_channels_operator_a_leave(client, teams, supervisor_a):
    refused = client.post("/admin/channels_app/leaveperiod/add/", leave_form(teams.b.operator))
    assert refused.status_code == 200
    assert errors_of(refused, "operator") == [NOT_A_CHOICE]
    assert not LeavePeriod.objects.exists()

    accepted = client.post("/admin/channels_app/leaveperiod/add/", leave_form(teams.a.operator))
    assert accepted.status_code == 302
    assert LeavePeriod.objects.get().operator == teams.a.operator


def lead_form(teams_side, **fields) -> dict:
    return {
        "title": "Wants a quote",
        "full_name": "Jan Kowalski",
        "source": "website",
        "status": "new",
        "open_channel": teams_side.channel.pk,
        "contact": teams_side.contact.pk,
        **fields,
    }


def test_a_lead_cannot_point_at_another_channels_contact_or_channel(client, teams, supervisor_a):
    url = "/admin/crm/lead/add/"
    other_channel = client.post(url, lead_form(teams.a, open_channel=teams.b.channel.pk))
    assert errors_of(other_channel, "open_channel") == [NOT_A_CHOICE]
    other_contact = client.post(url, lead_form(teams.a, contact=teams.b.contact.pk))
    assert errors_of(other_contact, "contact") == [NOT_A_CHOICE]
    other_responsible = client.post(url, lead_form(teams.a, responsible=teams.b.operator.pk))
    assert errors_of(other_responsible, "responsible") == [NOT_A_CHOICE]
    assert not Lead.objects.exists()

    accepted = client.post(url, lead_form(teams.a, responsible=teams.a.operator.pk))
    assert accepted.status_code == 302
    assert Lead.objects.get().contact == teams.a.contact
    assert Contact.objects.count() == 2


def rating_form(conversation, operator, supervisor) -> dict:
    return {
        "conversation": conversation.pk,
        "operator": operator.pk,
        "supervisor": supervisor.pk,
        "score": 4,
        "comment": "",
        "created_at_0": "2026-05-04",
        "created_at_1": "09:00:00",
    }


def test_a_rating_cannot_name_another_channels_conversation_or_people(client, teams, supervisor_a):
    url = "/admin/kpi/supervisorrating/add/"
    bravo_supervisor = UserFactory(username="boris")
    teams.b.channel.supervisors.add(bravo_supervisor)
    refused = client.post(url, rating_form(teams.b.conversation, teams.b.operator, bravo_supervisor))
    assert refused.status_code == 200
    for field in ("conversation", "operator", "supervisor"):
        assert errors_of(refused, field) == [NOT_A_CHOICE], field
    assert not SupervisorRating.objects.exists()

    accepted = client.post(url, rating_form(teams.a.conversation, teams.a.operator, supervisor_a))
    assert accepted.status_code == 302
    assert SupervisorRating.objects.get().conversation == teams.a.conversation


def test_an_administrator_may_choose_any_channels_rows(admin_client, teams):
    assert admin_client.post("/admin/channels_app/leaveperiod/add/", leave_form(teams.b.operator)).status_code == 302
    assert admin_client.post("/admin/crm/lead/add/", lead_form(teams.b)).status_code == 302

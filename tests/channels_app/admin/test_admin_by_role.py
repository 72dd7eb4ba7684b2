"""The admin opens by role (``access.uses_admin``): administrators and the supervisors of an open channel.
``is_staff`` plays no part, neither on the pages nor on the sign-in form."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from channels_app.engine.roles import ADMINISTRATORS, OPERATORS
from tests.factories import OpenChannelFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-1234-word"  # tests.factories.UserFactory's


def sign_in(username: str):
    return Client().post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"})


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_a_staff_user_without_a_role_cannot_open_the_admin(client):
    staff = UserFactory(username="stan", is_staff=True)
    staff.groups.add(Group.objects.get(name=OPERATORS))
    client.force_login(staff)
    assert sent_to_sign_in(client.get("/admin/"))
    assert sent_to_sign_in(client.get("/admin/channels_app/openchannel/"))

    refused = sign_in("stan")
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "Please enter a correct username and password" in page
    assert "staff" not in page.lower()


def test_a_supervisor_without_is_staff_opens_the_admin(client):
    sara = UserFactory(username="sara", is_staff=False)
    OpenChannelFactory().supervisors.add(sara)
    client.force_login(sara)
    assert client.get("/admin/").status_code == 200

    signed_in = sign_in("sara")
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"


def test_an_administrator_without_is_staff_opens_the_admin(client):
    adam = UserFactory(username="adam", is_staff=False)
    adam.groups.add(Group.objects.get(name=ADMINISTRATORS))
    client.force_login(adam)
    assert client.get("/admin/").status_code == 200


def test_an_inactive_supervisor_is_refused(client):
    sara = UserFactory(username="sara", is_active=False)
    OpenChannelFactory().supervisors.add(sara)
    client.force_login(sara)
    assert sent_to_sign_in(client.get("/admin/"))


def test_the_site_keeps_its_titles(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Open Channels contact center" in page
    assert "Administration | Contact center admin" in page

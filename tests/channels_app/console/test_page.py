"""The console page: sign-in, who may open it, CSRF on its forms."""

from __future__ import annotations

import json

import pytest
from django.test import Client as BrowserClient

from channels_app.models import OperatorProfile
from tests.factories import OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(db):
    operator = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=OpenChannelFactory(name="Support"), operator=operator)
    return operator


def test_anonymous_visitors_are_sent_to_the_console_sign_in(client):
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/?next=/console/"
    assert client.get("/console/login/").status_code == 200


def test_operator_signs_in_with_the_form_and_lands_on_the_console(olga, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    browser = BrowserClient(enforce_csrf_checks=True)
    form = browser.get("/console/login/")
    token = form.context["csrf_token"]
    refused = browser.post("/console/login/", {"username": "olga", "password": "pass-1234-word"})
    assert refused.status_code == 403, "the sign-in form needs its CSRF token"
    signed_in = browser.post(
        "/console/login/", {"username": "olga", "password": "pass-1234-word", "csrfmiddlewaretoken": str(token)}
    )
    assert signed_in.status_code == 302
    assert signed_in["Location"] == "/console/"
    page = browser.get("/console/")
    assert page.status_code == 200
    assert "Olga Nowak" in page.content.decode()


def test_wrong_password_shows_an_error_and_signs_nobody_in(client, olga):
    response = client.post("/console/login/", {"username": "olga", "password": "wrong"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()
    assert client.get("/console/").status_code == 302


def test_console_page_carries_its_config_and_no_operator_data_as_html(client, olga):
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga <script>alert(1)</script>")
    client.force_login(olga)
    response = client.get("/console/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html, "names are escaped in the page"
    config = response.context["console_config"]
    assert config["operator"] == {"id": olga.pk, "name": "Olga <script>alert(1)</script>"}
    assert config["urls"]["socket"] == "/ws/console/"
    assert config["urls"]["messages"] == "/api/conversations/{id}/messages/"
    assert json.loads(html.split('id="console-config" type="application/json">')[1].split("</script>")[0])
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_a_user_who_is_not_an_operator_gets_a_clear_403(client):
    clerk = UserFactory(username="clerk")
    client.force_login(clerk)
    response = client.get("/console/")
    assert response.status_code == 403
    assert "not set up as an operator" in response.content.decode()


def test_sign_out_is_a_post_with_csrf(olga):
    browser = BrowserClient(enforce_csrf_checks=True)
    browser.force_login(olga)
    page = browser.get("/console/")
    assert browser.post("/console/logout/").status_code == 403
    token = page.context["csrf_token"]
    response = browser.post("/console/logout/", {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert browser.get("/console/").status_code == 302

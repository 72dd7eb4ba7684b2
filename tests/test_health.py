"""GET /healthz reports whether the database and Redis answer."""

from unittest import mock

import pytest


@pytest.mark.django_db
def test_healthz_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_healthz_503_names_redis_when_it_does_not_answer(client, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_healthz_503_names_database_when_it_does_not_answer(client):
    with mock.patch("contact_center.health.connection.cursor", side_effect=Exception("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]

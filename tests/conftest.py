"""Shared fixtures: named personas and a ready open channel, on the real embedded PostgreSQL."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada_admin", is_staff=True, is_superuser=True)


@pytest.fixture
def operators(db):
    """Three operators: Olga, Piotr and Quynh, online and clocked in."""
    return [OperatorFactory(username=name) for name in ("olga", "piotr", "quynh")]


@pytest.fixture
def open_channel(db, operators):
    channel = OpenChannelFactory(name="Support")
    for position, operator in enumerate(operators):
        QueueMemberFactory(open_channel=channel, operator=operator, position=position)
    ConnectorFactory(open_channel=channel)
    return channel


@pytest.fixture
def group(db):
    def _group(name: str) -> Group:
        return Group.objects.get(name=name)

    return _group


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's deliberate slowness only slows the suite; tests never check hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

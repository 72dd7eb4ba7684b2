"""Fixtures shared by the channels_app tests."""

import pytest

from tests.channels_app.connectors.fake_provider import FakeProvider


@pytest.fixture
def provider(settings):
    """A real local HTTP server playing Telegram, Meta and Zalo; the provider API bases point at it."""
    with FakeProvider() as fake:
        yield fake.use_in(settings)

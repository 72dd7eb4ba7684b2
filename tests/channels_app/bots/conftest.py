"""The chatbot tests' external bots are local HTTP servers (``support.FakeBotServer``) on 127.0.0.1."""

import pytest


@pytest.fixture(autouse=True)
def local_bots_allowed(settings):
    """127.0.0.1 is a loopback address, which a bot URL may use only when listed (issue 13); the tests of that
    rule (``test_outbound.py``) empty the list again."""
    settings.CHATBOT_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

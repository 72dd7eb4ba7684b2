"""Schemathesis against the project's own OpenAPI schema (``/api/schema/``), in process.

Every operation of the schema is called with generated path parameters,
queries and bodies (valid and invalid), signed in as Olga, and each answer
is checked by schemathesis: never a 5xx, status codes and bodies as the
schema documents them, invalid input refused, authentication enforced.
The number of examples per operation is bounded so the module runs in well
under a minute on two cores.

The requests go through Django's WSGI handler in this thread, so they see the
test's own transaction (``db``), with a CSRF cookie and header like the console.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client as HttpClient
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from channels_app.engine.inbound import message_receive
from channels_app.livechat.visitors import visitor_token_issue
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

# An unmasked CSRF secret: Django accepts the same 32 characters as cookie and header.
CSRF_SECRET = "schemathesisCsrfSecret0123456789"
EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def api_schema(db, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = "schemathesis"
    # The WSGI handler would close the test's connection after every request (and with it the transaction).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def olga_session(db):
    """Olga, operator of “Support”, signed in; a visitor of the same channel with a conversation, and its token."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)
    # Queued in Support (after-commit routing does not run inside the test transaction).
    conversation = message_receive(
        connector=connector, external_user_id="fuzz-visitor", text="Hello", source_message_id=None, now=timezone.now()
    ).conversation
    http = HttpClient()
    http.force_login(olga)
    return {
        "cookies": {"sessionid": http.cookies["sessionid"].value, "csrftoken": CSRF_SECRET},
        "headers": {"X-CSRFToken": CSRF_SECRET},
        "conversation_id": conversation.pk,
        "visitor_token": visitor_token_issue(connector=connector, visitor_id="fuzz-visitor"),
    }


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the schema documents, read from the generator (no request needed)."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method.upper(), path) for path, operations in sorted(paths.items()) for method in operations]


LIVECHAT_STATE = "/api/livechat/{token}/"


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_answers_as_its_schema_says(api_schema, olga_session, method, path):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(), aim_at_real_rows=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers_as_documented(case, aim_at_real_rows):
        # Random ids and tokens only reach the 404 / 403 paths; half the examples use real ones.
        if aim_at_real_rows and "conversation_id" in (case.path_parameters or {}):
            case.path_parameters["conversation_id"] = olga_session["conversation_id"]
        if aim_at_real_rows and "token" in (case.path_parameters or {}):
            case.path_parameters["token"] = olga_session["visitor_token"]
        case.call_and_validate(
            cookies=olga_session["cookies"], headers=olga_session["headers"], excluded_checks=excluded
        )

    # Whether a chat takes a file depends on its bytes, name and type, which a schema cannot describe: a
    # schema-valid upload may rightly be refused (400), so only that check is left out there.
    # A conversation's messages are paged from one position (``after``, ``before``, ``around`` or ``newer_than``):
    # OpenAPI cannot say that the parameters exclude each other, and two at once are refused (400) by design.
    excluded = [positive_data_acceptance] if path.endswith(("/files/", "/messages/")) or path == LIVECHAT_STATE else []

    answers_as_documented()

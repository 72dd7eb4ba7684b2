"""Structured logs (``LOG_FORMAT``), request ids, and secrets masked in every log line (contact_center.logs)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime

import httpx
import pytest
from celery.signals import task_postrun, task_prerun
from django.conf import settings

from channels_app.tasks import sweep_presence
from contact_center import logs
from tests.environments import run_in_project, with_project_settings
from tests.logs import json_log_lines

logger = logging.getLogger("tests.logs")

SCRIPT = """
import logging
import django
django.setup()
logger = logging.getLogger("contact_center.example")
logger.warning("hello %s", "world")
try:
    1 / 0
except ZeroDivisionError:
    logger.exception("it failed")
"""


def run_python(script: str, **variables: str) -> subprocess.CompletedProcess:
    return run_in_project([sys.executable, "-c", script], with_project_settings(**variables))


def test_log_format_json_writes_one_json_object_per_line_with_time_level_logger_message_and_exception():
    result = run_python(SCRIPT, LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    hello, failure = [json.loads(line) for line in result.stderr.splitlines()]
    assert {key: hello[key] for key in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "contact_center.example",
        "message": "hello world",
    }
    assert datetime.fromisoformat(hello["time"]).utcoffset().total_seconds() == 0
    assert failure["message"] == "it failed"
    assert (
        failure["exception"].startswith("Traceback") and "ZeroDivisionError: division by zero" in failure["exception"]
    )
    assert "request_id" not in hello, "no request, no request id"


def test_log_format_plain_is_the_default_and_unknown_formats_are_refused_in_one_line():
    plain = run_python(SCRIPT)
    assert plain.returncode == 0, plain.stderr
    assert " WARNING contact_center.example hello world" in plain.stderr.splitlines()[0]
    refused = run_python("import django; django.setup()", LOG_FORMAT="xml")
    assert refused.returncode != 0
    assert "LOG_FORMAT must be one of plain, json; 'xml' is not." in refused.stderr


# --- request ids -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_request_s_log_lines_carry_its_request_id_even_from_the_view_s_thread(asgi_client, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    with json_log_lines() as lines:
        answer = await asgi_client.get("/healthz")
    assert answer.status_code == 503
    [failure] = lines.of("contact_center.health")
    assert failure["message"] == "health check: redis does not answer"
    assert failure["request_id"] == answer.headers["X-Request-ID"]
    assert "ConnectionError" in failure["exception"]
    assert len(answer.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("sent", ["lb-7f3a.01", "A" * 64, "f47ac10b-58cc-4372-a567-0e02b2c3d479"])
@pytest.mark.django_db(transaction=True)
async def test_a_short_safe_x_request_id_is_kept_and_echoed(asgi_client, sent):
    answer = await asgi_client.get("/healthz", headers={"X-Request-ID": sent})
    assert answer.headers["X-Request-ID"] == sent


@pytest.mark.parametrize("sent", ["A" * 65, "two words", "id\u00e9", "a/b", "x;y=z", "<script>", ""])
@pytest.mark.django_db(transaction=True)
async def test_an_unsafe_x_request_id_is_replaced_by_a_new_one(asgi_client, sent):
    first = await asgi_client.get("/healthz", headers={"X-Request-ID": sent.encode()})
    second = await asgi_client.get("/healthz", headers={"X-Request-ID": sent.encode()})
    assert first.headers["X-Request-ID"] != sent
    assert logs.SAFE_REQUEST_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert first.headers.get_list("X-Request-ID") == [first.headers["X-Request-ID"]]


def test_a_celery_task_logs_under_its_task_id_and_leaves_the_context_as_it_was():
    with json_log_lines() as lines, logs.scope(request_id="outer"):
        task_prerun.send(sender=sweep_presence, task_id="2f1e-task", task=sweep_presence)
        logger.warning("inside the task")
        task_postrun.send(sender=sweep_presence, task_id="2f1e-task", task=sweep_presence)
        logger.warning("after the task")
    inside, after = lines.of("tests.logs")
    assert (inside["request_id"], after["request_id"]) == ("2f1e-task", "outer")


def test_a_scope_undoes_what_was_bound_inside_it():
    with json_log_lines() as lines:
        with logs.scope(connector_id=3):
            logs.bind(conversation_id=41)
            logger.warning("conversation 41")
        logger.warning("outside")
    inside, outside = lines.of("tests.logs")
    assert (inside["connector_id"], inside["conversation_id"]) == (3, 41)
    assert "connector_id" not in outside and "conversation_id" not in outside


# --- secrets ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST https://api.telegram.org/bot123456:AAH-x_yZ/sendMessage", "123456:AAH-x_yZ"),
        ("GET https://api.telegram.org/file/bot123456:AAH-x_yZ/photos/1.jpg", "AAH-x_yZ"),
        ("token 1234567890:AAFq0b3XlCk2s9Qe8Zl7Vx5Yt4Rw1Uo6Ip3 leaked", "AAFq0b3XlCk2s9Qe8Zl7Vx5Yt4Rw1Uo6Ip3"),
        ("GET https://graph.facebook.com/v21.0/me?fields=name&access_token=EAAGpage&x=1", "EAAGpage"),
        ("headers={'Authorization': 'Bearer EAAGwaTOKEN', 'Accept': 'json'}", "EAAGwaTOKEN"),
        ("Authorization: Bearer EAAGwaTOKEN", "EAAGwaTOKEN"),
        ("{'access_token': 'zalo-oa-token', 'Content-Type': 'json'}", "zalo-oa-token"),
        ("GET /webhooks/meta/3/?hub.mode=subscribe&hub.verify_token=let-me-in", "let-me-in"),
    ],
)
def test_tokens_of_a_known_shape_are_masked(text, secret):
    assert secret not in logs.redact(text)
    assert "[redacted]" in logs.redact(text)


def test_the_project_s_own_keys_and_tokens_in_exceptions_are_masked_in_both_formats():
    token_url = "https://api.telegram.org/bot987654:SECRETbotTOKEN/getFile"
    with json_log_lines() as lines:
        logger.warning("keys: %s %s", settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY)
        try:
            raise httpx.ConnectError(f"cannot reach {token_url}")
        except httpx.ConnectError:
            logger.exception("provider call failed")
    for secret in (settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY, "SECRETbotTOKEN"):
        assert secret not in lines.text
    keys, failure = lines.of("tests.logs")
    assert keys["message"] == "keys: [redacted] [redacted]"
    assert "bot[redacted]/getFile" in failure["exception"]

    record = logging.LogRecord("tests.logs", logging.ERROR, __file__, 1, "call to %s failed", (token_url,), None)
    logs.RedactSecretsFilter().filter(record)
    plain = logging.Formatter(logs.logging_config(log_format="plain", level="INFO")["formatters"]["plain"]["format"])
    assert "SECRETbotTOKEN" not in plain.format(record)

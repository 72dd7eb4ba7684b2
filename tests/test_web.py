"""`manage.py web`, the production web process (issue 13, point 7): uvicorn with the frame limit, the worker
count and proxy headers believed from TRUSTED_PROXIES only, so throttling keys on the real client address."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db import connection

from channels_app.management.commands.web import web_process
from tests.e2e.harness import database_url
from tests.environments import run_in_project, with_project_settings
from tests.net import free_port

CLIENT = "203.0.113.7"  # the visitor a proxy names in X-Forwarded-For
OTHER_CLIENT = "198.51.100.9"
LOCKED = "Too many failed sign-ins"


def test_the_command_carries_the_frame_limit_the_workers_and_no_proxy_by_default(settings):
    settings.WEBSOCKET_MAX_FRAME_BYTES = 4096
    settings.WEB_WORKERS = 3
    settings.TRUSTED_PROXIES = []
    command, environment = web_process(host="0.0.0.0", port=9000)  # noqa: S104 -- only a command line
    assert command[:4] == [sys.executable, "-m", "uvicorn", "contact_center.asgi:application"]
    arguments = " ".join(command[4:])
    assert "--host 0.0.0.0 --port 9000" in arguments
    assert "--ws-max-size 4096" in arguments
    assert "--workers 3" in arguments
    assert "--no-proxy-headers" in arguments, "uvicorn would otherwise believe 127.0.0.1's headers"
    assert "--forwarded-allow-ips" not in arguments
    assert environment["DB_POOL_MAX_SIZE"] == os.environ.get("DB_POOL_MAX_SIZE", "20")


def test_the_command_believes_proxy_headers_from_the_trusted_proxies_only(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.5", "10.1.0.0/16"]
    command, _environment = web_process(host="127.0.0.1", port=8000)
    arguments = " ".join(command)
    assert "--proxy-headers --forwarded-allow-ips 10.0.0.5,10.1.0.0/16" in arguments
    assert "--no-proxy-headers" not in arguments


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRUSTED_PROXIES", "proxy.example.com", "TRUSTED_PROXIES: 'proxy.example.com' is not an IP address"),
        ("TRUSTED_PROXIES", "*", "TRUSTED_PROXIES: '*' is not an IP address"),
        ("WEB_WORKERS", "0", "WEB_WORKERS must be a whole number of worker processes, at least 1."),
    ],
)
def test_settings_refuse_a_web_process_they_cannot_describe(variable, value, message):
    result = run_in_project([sys.executable, "manage.py", "check"], with_project_settings(**{variable: value}))
    assert result.returncode == 1
    assert message in result.stderr


# --- Through uvicorn: which client address do rate limits and sign-in throttling see? ----------------------


@contextmanager
def web_server(*, trusted_proxies: str, log_path) -> Iterator[str]:
    """`manage.py web` on a free port, on the test database; yields its URL."""
    port = free_port()
    run_id = uuid.uuid4().hex[:8]
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contact_center.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNEL_LAYER_PREFIX": f"web-{run_id}",
        "CACHE_KEY_PREFIX": f"web-{run_id}",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "TRUSTED_PROXIES": trusted_proxies,
        # An address locks after as many failures as an account does: the tests need fewer requests.
        "LOGIN_ADDRESS_FAILURE_LIMIT": str(settings.LOGIN_FAILURE_LIMIT),
        "LOG_LEVEL": "WARNING",
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "web", "--host", "127.0.0.1", "--port", str(port)],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"uvicorn did not answer:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def failed_sign_in(browser: httpx.Client, url: str, username: str, forwarded_for: str) -> httpx.Response:
    """A wrong password on the console's sign-in page, sent through a proxy that names ``forwarded_for``."""
    page = browser.get(f"{url}/console/login/")
    assert page.status_code == 200
    return browser.post(
        f"{url}/console/login/",
        data={"username": username, "password": "wrong", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"X-Forwarded-For": forwarded_for},
    )


@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_from_a_trusted_proxy_is_the_client_address(tmp_path):
    with web_server(trusted_proxies="127.0.0.1", log_path=tmp_path / "web.log") as url, httpx.Client() as browser:
        for index in range(settings.LOGIN_FAILURE_LIMIT):
            last = failed_sign_in(browser, url, f"ghost{index}", CLIENT)
        assert last.status_code == 429 and LOCKED in last.text, "the named client is locked"
        assert 'name="username"' in last.text, "on the sign-in page itself, under uvicorn too"
        other = failed_sign_in(browser, url, "someone", OTHER_CLIENT)
        assert other.status_code == 200, "another client behind the same proxy is not"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {CLIENT, OTHER_CLIENT}


@pytest.mark.django_db(transaction=True)
def test_x_forwarded_for_from_anyone_else_is_ignored(tmp_path):
    with web_server(trusted_proxies="", log_path=tmp_path / "web.log") as url, httpx.Client() as browser:
        for index in range(settings.LOGIN_FAILURE_LIMIT):
            failed_sign_in(browser, url, f"ghost{index}", CLIENT)
        other = failed_sign_in(browser, url, "someone", OTHER_CLIENT)
        assert other.status_code == 429 and LOCKED in other.text, "a made-up header changes nobody's address"
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}

"""Browser-test fixtures: one uvicorn server and one Chromium per session, fresh contexts per test.

The server shares pytest-django's test database: tests seed it through the
ORM (committed, ``transaction=True``) and the browser sees the same rows.
"""

from __future__ import annotations

import functools
import os
import time
import warnings

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.test import Client as HttpClient
from django.utils import timezone
from playwright.sync_api import sync_playwright

from channels_app.models import OperatorProfile
from tests.channels_app.connectors.fake_provider import FakeProvider
from tests.e2e.harness import CHROMIUM_ARGS, LiveServer, chromium_executable, database_url


def _flush_retrying_deadlocks(execute_sql_flush):
    """pytest-django empties the tables (TRUNCATE) after each browser test. A request or timer the live server
    still runs at that moment may hold a table the TRUNCATE needs while waiting for one the TRUNCATE already
    took: PostgreSQL then aborts the TRUNCATE (deadlock detected) and every later test would start on the old
    rows. The TRUNCATE runs in one transaction, rolled back whole, so trying again is safe."""

    @functools.wraps(execute_sql_flush)
    def flush(self, sql_list):
        for attempt in range(5):
            try:
                return execute_sql_flush(self, sql_list)
            except OperationalError as error:
                if "deadlock detected" not in str(error) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    return flush


PostgresOperations.execute_sql_flush = _flush_retrying_deadlocks(PostgresOperations.execute_sql_flush)


@pytest.fixture(scope="session")
def fake_provider():
    """Telegram's, Meta's and Zalo's APIs as the live server sees them (tests script answers and read requests)."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture(scope="session")
def cc_server(django_db_setup, django_db_blocker, tmp_path_factory, fake_provider):
    """The contact center itself, with websockets, on the test database; its providers are the fake ones."""
    with django_db_blocker.unblock():
        database = database_url(connection.settings_dict)
    providers = {
        "TELEGRAM_API_BASE": fake_provider.url,
        "META_GRAPH_API_BASE": fake_provider.url + "/graph",
        "ZALO_API_BASE": fake_provider.url + "/zalo",
    }
    server = LiveServer(
        database=database,
        redis_url=settings.REDIS_URL,
        log_path=tmp_path_factory.mktemp("e2e") / "uvicorn.log",
        environment=providers,
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium(cc_server):
    """One Chromium per test module (other modules may start Playwright on their own)."""
    executable = chromium_executable()
    # Playwright's sync API runs an event loop in this thread; the ORM calls a test (and pytest-django's
    # flush after it) makes while the browser is open are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _files_where_the_server_reads_them(settings, cc_server):
    """Files a test stores (a visitor's photo it seeds) land where the live server serves them from."""
    settings.MEDIA_ROOT = cc_server.media_root


@pytest.fixture(autouse=True)
def _test_process_events_stay_here(settings):
    # Events of services the test itself calls (seeding) must not reach consoles of a development server.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def new_context(chromium, cc_server):
    """Browser contexts (separate cookies and storage, like two people); closed after the test.

    ``new_context(user)`` is signed in as ``user``. After the test the contexts
    are closed and the server is given time to take those operators offline, so
    pytest-django's flush never runs into the server's own writes.
    """
    contexts = []
    signed_in = []
    script_errors: list[str] = []

    def make(user=None):
        context = chromium.new_context(base_url=cc_server.url, viewport={"width": 1440, "height": 900})
        context.set_default_timeout(10_000)
        # An uncaught error in the console's or the widget's scripts fails the test that caused it.
        context.on("page", lambda page: page.on("pageerror", lambda error: script_errors.append(str(error))))
        if user is not None:
            http = HttpClient()
            http.force_login(user)
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": http.cookies[settings.SESSION_COOKIE_NAME].value,
                  "url": cc_server.url}]
            )  # fmt: skip
            signed_in.append(user.pk)
        contexts.append(context)
        return context

    yield make
    started_closing = timezone.now()
    for context in contexts:
        context.close()
    _wait_for_console_disconnects(signed_in, started_closing)
    assert not script_errors, f"uncaught script errors in the browser: {script_errors}"


def _wait_for_console_disconnects(user_ids: list[int], since, timeout: float = 15) -> None:
    """Wait until the server has handled the closing of every console socket: each operator's
    heartbeat is cleared (disconnect) or newer than the closing (another tab answered), and no other
    session is inside a transaction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connected = OperatorProfile.objects.filter(
            user_id__in=user_ids, console_heartbeat_at__isnull=False, console_heartbeat_at__lt=since
        ).exists()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle'"
            )
            busy = cursor.fetchone()[0]
        if not connected and not busy:
            return
        time.sleep(0.05)
    lingering = list(
        OperatorProfile.objects.filter(user_id__in=user_ids).values_list("user__username", "console_heartbeat_at")
    )
    warnings.warn(
        f"the server was still busy {timeout}s after the test (operators connected: {lingering} before {since}, "
        f"sessions in a transaction: {busy})",
        stacklevel=2,
    )

"""Shared fixtures: named personas and a ready open channel, on the real embedded PostgreSQL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from celery._state import _set_task_join_will_block
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import translation

from contact_center import embedded
from contact_center.celery import app as celery_app
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory


def pytest_configure(config) -> None:
    """The tests' entry point into the product: start the embedded servers the settings point at (if not running)."""
    embedded.start()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada_admin", is_superuser=True)


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
def eager_celery():
    """Queued tasks run at once, in the caller, and their errors propagate (a data export's build, issue 19)."""
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def media_root(settings, tmp_path):
    """Stored files (issue 14) go to a temporary folder, so a test can look at the bytes and leaves none behind."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def group(db):
    def _group(name: str) -> Group:
        return Group.objects.get(name=name)

    return _group


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's deliberate slowness only slows the suite; tests never check hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def celery_join_flag_reset():
    """Celery keeps "a task is running here, never block on a result" in one process-wide flag, which every eager
    ``apply_async`` sets and restores. Two threads running eager tasks at once (a test's own and a server
    thread's) can restore it in the wrong order and leave it set, so a later test's ``.apply().get()`` fails with
    "Never call result.get() within a task!". Each test starts with it cleared."""
    _set_task_join_will_block(False)


TEST_BROKER_DB = 15


def broker_url_on_db(url: str, db: int) -> str:
    """The same Redis broker, another database number (kombu spells it per transport)."""
    if url.startswith("redis+socket://"):
        return f"{url}{'&' if '?' in url else '?'}virtual_host={db}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture(autouse=True, scope="session")
def isolated_celery_broker():
    """Tasks published by tests go to a Redis database that no worker reads.

    Without this, a test's ``.delay()`` would wait in the development queue and
    a later ``make run`` worker would execute it against the wrong database.
    """
    celery_app.conf.broker_url = broker_url_on_db(django_settings.CELERY_BROKER_URL, TEST_BROKER_DB)
    client = redis.Redis.from_url(django_settings.REDIS_URL, db=TEST_BROKER_DB)
    client.flushdb()
    client.close()
    yield


@pytest.fixture
def page(monkeypatch):
    """A Chromium page for tests against pytest-django's ``live_server`` (same process, same database)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.harness import CHROMIUM_ARGS, chromium_executable

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1360, "height": 900})
        finally:
            browser.close()
            # The test's ORM calls ran in Playwright's greenlet, whose context has database connections of its
            # own: closed here, or the test database could not be dropped at the end of the run.
            connections.close_all()


@pytest.fixture
async def asgi_client():
    """The production ASGI application, its webhook work on one executor thread whose connection is closed after."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from asgiref.sync import sync_to_async
    from django.db import connections

    from channels_app.connectors.webhooks import inbound_threads
    from contact_center.asgi import application

    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(executor)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://127.0.0.1") as http:
        yield http
    # Connections left open in these threads would keep the test database from being dropped.
    await loop.run_in_executor(executor, connections.close_all)
    await sync_to_async(inbound_threads.close)()
    await sync_to_async(connections.close_all)()


@pytest.fixture
def tasks_waiting(settings):
    """``tasks_waiting(queue, n)``: ``n`` placeholders waiting in a Celery queue of the tests' Redis broker (no worker
    reads it), as a long queue looks to ``/readyz`` and the webhook door's backpressure (issue 21)."""
    from channels_app.connectors import processing

    client = redis.Redis.from_url(settings.REDIS_URL, db=TEST_BROKER_DB)  # the tests' broker
    filled: set[str] = set()

    def fill(queue: str, count: int) -> None:
        client.delete(queue)
        if count:
            client.lpush(queue, *[b'{"placeholder": true}'] * count)
        filled.add(queue)
        processing.inbound_queue.forget()

    yield fill
    if filled:
        client.delete(*filled)
    processing.inbound_queue.forget()
    client.close()


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A request in Polish (LocaleMiddleware) leaves Polish active in the thread: the next test starts in English."""
    yield
    translation.deactivate()

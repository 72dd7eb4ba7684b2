"""Fixtures shared by the channels_app tests."""

import pytest

from tests.channels_app.connectors.fake_provider import FakeProvider


@pytest.fixture
def provider(settings):
    """A real local HTTP server playing Telegram, Meta and Zalo; the provider API bases point at it."""
    with FakeProvider() as fake:
        yield fake.use_in(settings)


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

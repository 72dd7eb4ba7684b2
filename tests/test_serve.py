"""`make run` (manage.py serve): web, a worker per queue and beat start, answer, and stop (Ctrl-C, SIGTERM, SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import psutil
import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from contact_center import embedded
from tests.environments import production_like
from tests.net import free_port


@pytest.fixture
def scratch_database():
    """A database of its own, so serve's migrate and demo data touch nothing else."""
    name = f"serve_{uuid.uuid4().hex[:8]}"
    socket_dir = str(embedded.postgres_socket_dir())
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@/{name}?host={socket_dir}"
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for(url: str, deadline: float) -> httpx.Response:
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


QUEUE_CHECKS = ("worker:inbound", "worker:outbound", "worker:sweeps", "worker:bulk")
# web, a worker per queue and its pool processes (2, 2, 1, 1), beat, the guardian
FAMILY_SIZE = 1 + 4 + 6 + 1 + 1


def whole_family(pid: int, readyz: str) -> list[psutil.Process]:
    """Once /readyz sees a live worker on every queue and every pool process is forked: serve's descendants."""
    deadline = time.monotonic() + 90
    while True:
        checks = httpx.get(readyz, timeout=5).json()["checks"]
        family = descendants(pid)
        if all(checks[name] == "ok" for name in QUEUE_CHECKS) and len(family) >= FAMILY_SIZE:
            return family
        assert time.monotonic() < deadline, (checks, family)
        time.sleep(0.5)


def serve_once(
    database_url: str, environment: dict[str, str] | None = None, *, stop_with: signal.Signals = signal.SIGINT
) -> str:
    """Start serve, check it answers, press Ctrl-C (or send ``stop_with``); return its output.

    Every process serve started (web, a worker per queue with its pool, beat, the guardian) is gone once it has
    exited (issue 21).
    """
    port = free_port()
    env = {**(environment or os.environ), "DATABASE_URL": database_url, "REDIS_URL": settings.REDIS_URL}
    env["PORT"] = str(port)
    env["SHUTDOWN_GRACE_SECONDS"] = "3"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 90)
        assert health.status_code == 200
        assert health.json()["checks"] == {"database": "ok", "redis": "ok"}
        login = httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
        assert login.status_code == 200
        assert 'name="username"' in login.text
        family = whole_family(process.pid, f"http://127.0.0.1:{port}/readyz")
    finally:
        process.send_signal(stop_with)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert [child for child in family if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []
    assert f"http://127.0.0.1:{port}" in output
    assert "Stopped." in output
    return output


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def test_serve_runs_web_worker_beat_and_stops_on_ctrl_c_and_on_sigterm_and_runs_again(scratch_database):
    first = serve_once(scratch_database)
    assert "Demo data loaded." in first
    assert "Demo logins (password demo-pass-2026): admin, supervisor, olga, piotr, quynh" in first
    second = serve_once(scratch_database, stop_with=signal.SIGTERM)
    assert "Demo data loaded." not in second
    with psycopg.connect(scratch_database) as conn:
        users = conn.execute("SELECT count(*) FROM auth_user").fetchone()[0]
        channels = conn.execute("SELECT count(*) FROM channels_app_openchannel").fetchone()[0]
    assert (users, channels) == (5, 2), "the second run duplicated nothing"


def test_serve_with_debug_off_loads_no_demo_data(scratch_database, tmp_path):
    """Issue 13, point 4: the demo logins are published, so a production-like start never creates them."""
    output = serve_once(scratch_database, production_like(env_file=tmp_path / ".env", SECURE_SSL_REDIRECT="false"))
    assert "No demo data with DEBUG off" in output
    assert "Demo data loaded." not in output and "Demo logins" not in output
    with psycopg.connect(scratch_database) as conn:
        assert conn.execute("SELECT count(*) FROM auth_user").fetchone()[0] == 0


@pytest.mark.django_db
def test_seed_demo_refuses_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="Demo data is never loaded with DEBUG off"):
        call_command("seed_demo")
    assert not get_user_model().objects.exists()
    settings.DEBUG = True
    call_command("seed_demo")
    assert get_user_model().objects.filter(username="admin").exists()


def test_issue21_serve_killed_leaves_no_orphan(scratch_database):
    """SIGKILL to serve: its children receive SIGTERM from the kernel, and the guardian kills what is left of their
    process groups (Celery's pool, uvicorn's workers) after the grace period."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": scratch_database, "REDIS_URL": settings.REDIS_URL, "PORT": str(port)}
    env["SHUTDOWN_GRACE_SECONDS"] = "2"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-seed"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 90)
        family = whole_family(process.pid, f"http://127.0.0.1:{port}/readyz")
    finally:
        process.kill()
        process.wait(timeout=10)
    deadline = time.monotonic() + 2 + 5 + 5  # the grace, serve's margin, and time to exit
    while (left := [child for child in family if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert left == [], [child.cmdline() for child in left]

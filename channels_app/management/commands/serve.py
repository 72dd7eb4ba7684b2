"""``manage.py serve`` (what ``make run`` runs): the whole product in the foreground.

1. Settings have already started the embedded PostgreSQL and Redis (unless
   ``DATABASE_URL`` / ``REDIS_URL`` point elsewhere).
2. Migrate; with DEBUG on, load the demo data when the database has no users yet (never with DEBUG off: its
   logins are published).
3. Start uvicorn (as ``manage.py web`` runs it), one Celery worker per queue (:data:`WORKERS`: inbound,
   outbound, sweeps, bulk; decision 0023) and Celery beat as child processes, all counting their Prometheus
   metrics into one directory (``PROMETHEUS_MULTIPROC_DIR``, by default ``var/prometheus``, emptied first), so
   ``/metrics`` on any web worker adds up every process (decision 0011).
4. Ctrl-C (or SIGTERM) stops the children, then the embedded servers this
   process started. If a child dies, the others are stopped too and the
   command exits non-zero.

No child outlives serve (decision 0023): each is asked to stop with SIGTERM and killed, with its own children
(its process group), ``SHUTDOWN_GRACE_SECONDS`` (+5) later. If serve itself is killed, each child receives
SIGTERM from the kernel (the parent-death signal), and a guardian process
(:class:`contact_center.processes.Guardian`) kills what is left of their process groups after the same grace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from channels_app.engine import jobs
from channels_app.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from channels_app.management.commands.web import web_process
from channels_app.models import Connector, ConnectorKind
from contact_center import embedded, processes


def prepare_metrics_directory() -> Path:
    """Empty the multiprocess metrics directory and name it in the environment the children inherit.

    Emptied at every start, as prometheus_client's documentation requires: files of a previous run would add old
    counts (and old processes' sockets) to the new ones. An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept.
    """
    directory = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.BASE_DIR / "var" / "prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    # Only prometheus_client's files: an operator's directory may hold anything else.
    for values_file in directory.glob("*.db"):
        values_file.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return directory


@dataclass(frozen=True)
class Worker:
    """A Celery worker of one queue: its options on the command line (the production table in the README too)."""

    queue: str
    concurrency: int

    def command(self, python: str) -> list[str]:
        return [
            python, "-m", "celery", "-A", "contact_center", "worker", "-l", "info", "-Q", self.queue,
            "-n", f"{self.queue}@%h", "--concurrency", str(self.concurrency),
        ]  # fmt: skip


# Sized for a 2-core machine: the client's messages and the replies get two processes each (a reply mostly
# waits on the provider), the sweeps and the bulk work one each.
WORKERS = (
    Worker(jobs.INBOUND, concurrency=2),
    Worker(jobs.OUTBOUND, concurrency=2),
    Worker(jobs.SWEEPS, concurrency=1),
    Worker(jobs.BULK, concurrency=1),
)
# Seconds beyond SHUTDOWN_GRACE_SECONDS before a child that was asked to stop is killed (the web process
# needs its grace period plus the time to close its database pool and exit).
KILL_MARGIN_SECONDS = 5


def _child_setup(parent_pid: int) -> None:
    """In each child before it runs: its own session (Ctrl-C in the terminal reaches serve only, which stops the
    children in order; its process group holds its own children), and SIGTERM when serve dies."""
    os.setsid()
    processes.die_with_parent(signal.SIGTERM, parent_pid=parent_pid)


class Command(BaseCommand):
    help = "Run the web server, a Celery worker per queue and Celery beat until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-seed", action="store_true", help="Do not load demo data on an empty database.")

    def handle(self, *args, host: str, port: int, no_seed: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        seeded = False
        if not get_user_model().objects.exists():
            if not settings.DEBUG:
                self.stdout.write("No demo data with DEBUG off. Create the first user with manage.py createsuperuser.")
            elif not no_seed:
                call_command("seed_demo")
                seeded = True
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)

        prepare_metrics_directory()
        children = self._start_children(host, port)
        # Forked while serve has no other thread: if serve is killed, it stops what its children left behind.
        guardian = processes.Guardian([child.pid for child in children.values()], grace=self._kill_after())
        self._print_banner(host, port, seeded)
        exit_code = self._supervise(children)
        guardian.dismiss()
        self._stop_embedded()
        sys.exit(exit_code)

    def _kill_after(self) -> float:
        return settings.SHUTDOWN_GRACE_SECONDS + KILL_MARGIN_SECONDS

    def _start_children(self, host: str, port: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        # The web process exactly as `manage.py web` runs it in production (frame limit, proxies, workers, pool).
        web_command, web_environment = web_process(host=host, port=port)
        commands = {
            "web": web_command,
            **{f"worker {worker.queue}": worker.command(python) for worker in WORKERS},
            "beat": [python, "-m", "celery", "-A", "contact_center", "beat", "-l", "info"],
        }
        # Workers keep one database connection each (no pool).
        environments = {"web": web_environment}
        parent_pid = os.getpid()
        processes.prepare()
        return {
            name: subprocess.Popen(  # noqa: S603 -- our own fixed commands
                command,
                cwd=settings.BASE_DIR,
                env=environments.get(name, os.environ),
                preexec_fn=lambda: _child_setup(parent_pid),
            )
            for name, command in commands.items()
        }

    def _print_banner(self, host: str, port: int, seeded: bool) -> None:
        url = f"http://{host}:{port}"
        lines = [
            "",
            f"  Contact center running at {url}",
            f"    admin:   {url}/admin/",
            f"    console: {url}/console/ (operators sign in at {url}/console/login/)",
            f"    KPI:     {url}/kpi/",
            f"    health:  {url}/healthz",
        ]
        demo_users = [username for username, *_ in DEMO_USERS]
        if get_user_model().objects.filter(username__in=demo_users).exists():
            lines.append(f"  Demo logins (password {DEMO_PASSWORD}): " + ", ".join(demo_users))
        demo_widget = Connector.objects.filter(kind=ConnectorKind.LIVECHAT, public_key="demo-support").first()
        if demo_widget is not None:
            lines.append(f"  Live chat demo: {url}/livechat/demo/{demo_widget.public_key}/")
        if seeded:
            lines.append("  Demo data loaded.")
        lines += ["  Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))

    def _supervise(self, children: dict[str, subprocess.Popen]) -> int:
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        exit_code = 0
        while not stopping:
            for name, process in children.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping the others.")
                    exit_code = 1
                    stopping = True
                    break
            time.sleep(0.5)

        self.stdout.write("Stopping web, workers and beat…")
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._kill_after()
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it.")
        # Each child's process group, the child included if it is still there: its own children go with it.
        processes.stop_groups([process.pid for process in children.values()], grace=0)
        for process in children.values():
            process.wait()
        return exit_code

    def _stop_embedded(self) -> None:
        if "redis" in embedded.started_here:
            embedded.stop_redis()
            self.stdout.write("Embedded Redis stopped.")
        if "postgres" in embedded.started_here:
            embedded.stop_postgres()
            self.stdout.write("Embedded PostgreSQL stopped.")
        self.stdout.write("Stopped.")

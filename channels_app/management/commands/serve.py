"""``manage.py serve`` (what ``make run`` runs): the whole product in the foreground.

1. Settings have already started the embedded PostgreSQL and Redis (unless
   ``DATABASE_URL`` / ``REDIS_URL`` point elsewhere).
2. Migrate; with DEBUG on, load the demo data when the database has no users yet (never with DEBUG off: its
   logins are published).
3. Start uvicorn (as ``manage.py web`` runs it), one Celery worker and Celery beat as child processes, all
   counting their Prometheus metrics into one directory (``PROMETHEUS_MULTIPROC_DIR``, by default
   ``var/prometheus``, emptied first), so ``/metrics`` on any web worker adds up every process (decision 0011).
4. Ctrl-C (or SIGTERM) stops the children, then the embedded servers this
   process started. If a child dies, the others are stopped too and the
   command exits non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from channels_app.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS
from channels_app.management.commands.web import web_process
from channels_app.models import Connector, ConnectorKind
from contact_center import embedded


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


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and Celery beat until Ctrl-C."

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
        self._print_banner(host, port, seeded)
        exit_code = self._supervise(children)
        self._stop_embedded()
        sys.exit(exit_code)

    def _start_children(self, host: str, port: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        # The web process exactly as `manage.py web` runs it in production (frame limit, proxies, workers, pool).
        web_command, web_environment = web_process(host=host, port=port)
        commands = {
            "web": web_command,
            "worker": [python, "-m", "celery", "-A", "contact_center", "worker", "-l", "info", "--concurrency", "2"],
            "beat": [python, "-m", "celery", "-A", "contact_center", "beat", "-l", "info"],
        }
        # Workers keep one database connection each (no pool).
        environments = {"web": web_environment}
        # Children ignore the terminal's Ctrl-C (own process group); we stop them in order.
        return {
            name: subprocess.Popen(  # noqa: S603 -- our own fixed commands
                command, cwd=settings.BASE_DIR, start_new_session=True, env=environments.get(name, os.environ)
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

        self.stdout.write("Stopping web, worker and beat…")
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it.")
                process.kill()
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

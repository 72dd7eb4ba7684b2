"""Settings are plain values: importing them (and setting Django up) starts no server and writes no file."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
from django.conf import settings

SCRIPT = """
import django
django.setup()
from django.conf import settings
print(settings.DATABASES["default"]["HOST"])
print(settings.REDIS_URL)
"""


def _processes_mentioning(path: str) -> list[str]:
    found = []
    for process in psutil.process_iter(attrs=["pid", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if path in cmdline or path in (process.info["cwd"] or ""):
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


def _entries(directory) -> set[str]:
    return {entry.name for entry in directory.iterdir()} if directory.exists() else set()


def test_importing_settings_with_an_empty_var_dir_starts_nothing_and_creates_nothing(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "XDG_RUNTIME_DIR"}
    }
    environment.update(EMBEDDED_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="contact_center.settings")
    project_var = settings.BASE_DIR / "var"
    project_before, var_before = _entries(settings.BASE_DIR), _entries(project_var)

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    database_host, redis_url = result.stdout.split()
    # The sockets are where the servers will put them, computed without starting anything.
    assert database_host == str(var_dir / "postgres")
    assert redis_url == f"unix://{var_dir / 'redis' / 'redis.sock'}"
    assert list(var_dir.iterdir()) == []
    assert _processes_mentioning(str(var_dir)) == []
    assert _entries(settings.BASE_DIR) == project_before
    assert _entries(project_var) == var_before

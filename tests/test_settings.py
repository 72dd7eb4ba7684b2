"""Settings are plain values: importing them (and setting Django up) starts no server and writes no file."""

from __future__ import annotations

import os
import sys

import psutil
import pytest
from django.conf import settings

from contact_center.settings import PUBLIC_SECRET_KEYS
from tests.environments import production_like, run_in_project, without_debug_or_keys
from tests.net import free_port

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

    result = run_in_project([sys.executable, "-c", SCRIPT], environment)

    assert result.returncode == 0, result.stderr
    database_host, redis_url = result.stdout.split()
    # The sockets are where the servers will put them, computed without starting anything.
    assert database_host == str(var_dir / "postgres")
    assert redis_url == f"unix://{var_dir / 'redis' / 'redis.sock'}"
    assert list(var_dir.iterdir()) == []
    assert _processes_mentioning(str(var_dir)) == []
    assert _entries(settings.BASE_DIR) == project_before
    assert _entries(project_var) == var_before


# --- Fail closed (issue 13, point 4) ------------------------------------------------------------------------

SECRET_KEY_ADVICE = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def test_without_debug_and_secret_key_check_deploy_refuses_and_says_what_to_set(tmp_path):
    result = run_in_project(
        [sys.executable, "manage.py", "check", "--deploy"], without_debug_or_keys(env_file=tmp_path / ".env")
    )
    assert result.returncode == 1
    assert "Refusing to start: SECRET_KEY is not set, and DEBUG is off" in result.stderr
    assert SECRET_KEY_ADVICE in result.stderr
    assert "Traceback" not in result.stderr, "one clear message, no stack"


def test_without_debug_and_secret_key_the_web_process_refuses_to_start(tmp_path):
    environment = without_debug_or_keys(env_file=tmp_path / ".env")
    port = str(free_port())
    result = run_in_project(
        [sys.executable, "-m", "uvicorn", "contact_center.asgi:application", "--port", port], environment
    )
    assert result.returncode == 1
    assert "Refusing to start: SECRET_KEY is not set, and DEBUG is off" in result.stderr
    assert SECRET_KEY_ADVICE in result.stderr


@pytest.mark.parametrize("public_key", sorted(PUBLIC_SECRET_KEYS))
def test_with_debug_off_a_published_secret_key_is_refused(tmp_path, public_key):
    environment = {**production_like(env_file=tmp_path / ".env"), "SECRET_KEY": public_key}
    result = run_in_project([sys.executable, "manage.py", "check"], environment)
    assert result.returncode == 1
    assert "SECRET_KEY is a public example value" in result.stderr


def test_with_debug_off_and_keys_of_its_own_the_deploy_check_passes(tmp_path):
    result = run_in_project(
        [sys.executable, "manage.py", "check", "--deploy"], production_like(env_file=tmp_path / ".env")
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_unless_the_environment_turns_it_on(tmp_path):
    script = "from django.conf import settings; print(settings.DEBUG)"
    production = run_in_project([sys.executable, "-c", script], production_like(env_file=tmp_path / ".env"))
    assert production.stdout.split() == ["False"], production.stderr
    development = {**without_debug_or_keys(env_file=tmp_path / ".env"), "DEBUG": "true"}
    assert run_in_project([sys.executable, "-c", script], development).stdout.split() == ["True"]


def test_an_env_file_may_turn_debug_on_for_a_developer(tmp_path):
    (tmp_path / ".env").write_text("DEBUG=true\n")
    script = "from django.conf import settings; print(settings.DEBUG)"
    result = run_in_project([sys.executable, "-c", script], without_debug_or_keys(env_file=tmp_path / ".env"))
    assert result.stdout.split() == ["True"], result.stderr


def test_manage_py_checks_and_uses_the_settings_its_command_line_names(tmp_path):
    """``--settings`` is applied before the refusal check: the settings named are the ones checked and used."""
    environment = without_debug_or_keys(env_file=tmp_path / ".env")  # contact_center.settings would refuse
    development = run_in_project([sys.executable, "manage.py", "check", "--settings=tests.settings"], environment)
    assert development.returncode == 0, development.stderr
    assert "System check identified no issues" in development.stdout

    named_product = {**environment, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    refused = run_in_project(
        [sys.executable, "manage.py", "check", "--settings", "contact_center.settings"], named_product
    )
    assert refused.returncode == 1
    assert "Refusing to start: SECRET_KEY is not set, and DEBUG is off" in refused.stderr
    assert "Traceback" not in refused.stderr

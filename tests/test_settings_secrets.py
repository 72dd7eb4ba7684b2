"""Issue 13: with DEBUG off the product refuses to start without an encryption key of its own (FIELD_ENCRYPTION_KEY);
with DEBUG on (development, tests) a fixed development key is used."""

from __future__ import annotations

import sys

import pytest
from cryptography.fernet import Fernet

from contact_center.settings import DEVELOPMENT_FIELD_ENCRYPTION_KEY
from tests.environments import production_like, run_in_project, without_debug_or_keys
from tests.net import free_port

KEY_ADVICE = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
PRINT_KEY = "from django.conf import settings; print(settings.FIELD_ENCRYPTION_KEY)"


def without_encryption_key(tmp_path) -> dict[str, str]:
    environment = production_like(env_file=tmp_path / ".env")
    del environment["FIELD_ENCRYPTION_KEY"]
    return environment


def test_with_debug_off_and_no_encryption_key_check_deploy_refuses_and_says_what_to_set(tmp_path):
    result = run_in_project([sys.executable, "manage.py", "check", "--deploy"], without_encryption_key(tmp_path))
    assert result.returncode == 1
    assert "Refusing to start: Set FIELD_ENCRYPTION_KEY" in result.stderr
    assert KEY_ADVICE in result.stderr
    assert "Traceback" not in result.stderr


def test_with_debug_off_and_no_encryption_key_the_web_process_refuses_to_start(tmp_path):
    port = str(free_port())
    command = [sys.executable, "-m", "uvicorn", "contact_center.asgi:application", "--port", port]
    result = run_in_project(command, without_encryption_key(tmp_path))
    assert result.returncode == 1
    assert "Refusing to start: Set FIELD_ENCRYPTION_KEY" in result.stderr


@pytest.mark.parametrize(
    ("variables", "refusal"),
    [
        ({"FIELD_ENCRYPTION_KEY": DEVELOPMENT_FIELD_ENCRYPTION_KEY}, "Set FIELD_ENCRYPTION_KEY"),
        ({"FIELD_ENCRYPTION_KEY": "correct horse battery staple"}, "must be Fernet keys"),
        ({"FIELD_ENCRYPTION_KEY_FALLBACKS": "not-a-key"}, "must be Fernet keys"),
    ],
    ids=["the-public-development-key", "not-a-fernet-key", "a-fallback-that-is-not-a-key"],
)
def test_with_debug_off_a_public_or_malformed_encryption_key_is_refused(tmp_path, variables, refusal):
    result = run_in_project(
        [sys.executable, "manage.py", "check"], production_like(env_file=tmp_path / ".env", **variables)
    )
    assert result.returncode == 1
    assert refusal in result.stderr
    assert "not-a-key" not in result.stderr and "battery" not in result.stderr, "a key is never printed whole"


def test_with_debug_off_keys_of_its_own_are_used(tmp_path):
    key, old_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    environment = production_like(env_file=tmp_path / ".env", FIELD_ENCRYPTION_KEY=key)
    environment["FIELD_ENCRYPTION_KEY_FALLBACKS"] = old_key
    script = PRINT_KEY + "; print(','.join(settings.FIELD_ENCRYPTION_KEY_FALLBACKS))"
    result = run_in_project([sys.executable, "-c", script], environment)
    assert result.stdout.split() == [key, old_key], result.stderr


def test_with_debug_on_the_development_key_is_used_when_none_is_set(tmp_path):
    environment = {**without_debug_or_keys(env_file=tmp_path / ".env"), "DEBUG": "true"}
    result = run_in_project([sys.executable, "-c", PRINT_KEY], environment)
    assert result.stdout.split() == [DEVELOPMENT_FIELD_ENCRYPTION_KEY], result.stderr

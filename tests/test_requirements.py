"""docs/requirements.md defines the requirement IDs; the tests name them, so spec coverage can be traced both ways."""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REQUIREMENTS = TESTS.parent / "docs" / "requirements.md"
DEFINITION = re.compile(r"^- \*\*([A-Z]\d+)\b", re.MULTILINE)
# "test_Q6_online_…", "test_s2_a_photo_…": an ID is a letter and a number between underscores of a test's name.
ID_IN_TEST_NAME = re.compile(r"(?:^|_)([a-zA-Z]\d{1,2})(?=_|$)")


def defined_ids() -> set[str]:
    return set(DEFINITION.findall(REQUIREMENTS.read_text(encoding="utf-8")))


def names_of_tests() -> list[str]:
    names = []
    for path in TESTS.rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                names.append(node.name)
    return names


def test_the_requirements_define_every_family_of_ids():
    ids = defined_ids()
    assert {identifier[0] for identifier in ids} == set("QCHAMRBOSK")
    assert {"Q1", "Q13", "C5", "H2", "A1", "M5", "R3", "B2", "O5", "S3", "K3"} <= ids


def test_every_id_a_test_names_is_a_requirement():
    named = {match.upper() for name in names_of_tests() for match in ID_IN_TEST_NAME.findall(name)}
    assert named, "no test names a requirement"
    assert named <= defined_ids(), f"named by tests but not in docs/requirements.md: {sorted(named - defined_ids())}"


def test_every_requirement_is_named_by_at_least_one_test():
    named = {match.upper() for name in names_of_tests() for match in ID_IN_TEST_NAME.findall(name)}
    assert defined_ids() <= named, f"no test is named after: {sorted(defined_ids() - named)}"

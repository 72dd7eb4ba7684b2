"""A phone or e-mail typed in a message (issue 15, point 9): found only when it is clearly one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy.shared_details import typed_email, typed_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jan.kowalski@example.com", "jan.kowalski@example.com"),
        ("My e-mail is Jan.Kowalski+shop@Example.co.uk, thanks!", "Jan.Kowalski+shop@Example.co.uk"),
        ("email: nguyen.van.a@gmail.com.", "nguyen.van.a@gmail.com"),
        ("a@b.pl or a@b.pl", "a@b.pl"),  # the same address twice counts once
        ("a@b.pl or c@d.pl", ""),  # two addresses: which one?
        ("write to me at jan@localhost", ""),
        ("user@@example.com", ""),
        ("jan..kowalski@example.com", ""),
        ("see example.com/@jan", ""),
        ("", ""),
    ],
)
def test_typed_email(text, expected):
    assert typed_email(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+48 600 100 200", "+48 600 100 200"),
        ("600-100-200", "600-100-200"),
        ("(028) 3823-4567", "(028) 3823-4567"),
        ("tel: 600100200", "600100200"),
        ("SĐT 0912 345 678", "0912 345 678"),
        ("  +84912345678. ", "+84912345678"),
        ("My order 600100200 has not arrived", ""),  # digits inside a sentence
        ("12.05.2026", ""),  # a date: too few digits
        ("123456", ""),
        ("+48 600 100 200 300 400 500", ""),  # more than E.164 allows
        ("++48600100200", ""),
        ("600100200 and 600100201", ""),
        ("", ""),
    ],
)
def test_typed_phone(text, expected):
    assert typed_phone(text) == expected


@given(st.text(max_size=300))
def test_never_fails_and_finds_only_what_is_in_the_text(text):
    email, phone = typed_email(text), typed_phone(text)
    assert email == "" or email in text
    assert phone == "" or all(part in text for part in phone.split())


@given(st.text(alphabet=st.characters(categories=("L", "Zs", "P")), max_size=200))
def test_a_message_without_digits_is_never_a_phone(text):
    assert typed_phone(text) == ""

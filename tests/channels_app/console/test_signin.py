"""Signing in on the console's and the admin's login pages: throttled per account and per address, and TOTP
two-factor for users with a device (issue 13, point 6)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import OpenChannelFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-1234-word"  # tests.factories.UserFactory's
LOGIN_PAGES = {"console": ("/console/login/", "/console/"), "admin": ("/admin/login/", "/admin/")}
LANDING = dict(LOGIN_PAGES.values())
HOME = "198.51.100.7"
ELSEWHERE = "203.0.113.50"
LOCKED = "Too many failed sign-ins for this account or from this address. Try again in 15 minutes."


@pytest.fixture(params=sorted(LOGIN_PAGES))
def login_page(request) -> tuple[str, str]:
    """The page's address and where a successful sign-in lands."""
    return LOGIN_PAGES[request.param]


@pytest.fixture
def stefan(db):
    """A supervisor of a channel, so both pages admit him."""
    user = UserFactory(username="stefan")
    OpenChannelFactory().supervisors.add(user)
    return user


def sign_in(page: str, username: str, password: str, *, address: str = HOME, code: str | None = None):
    """One sign-in from a fresh browser at ``address`` (both pages' forms send where to land as ``next``)."""
    data = {"username": username, "password": password, "next": LANDING[page]}
    if code is not None:
        data["otp_token"] = code
    return Client(REMOTE_ADDR=address).post(page, data)


def signed_in(response, landing: str) -> bool:
    return response.status_code == 302 and response["Location"] == landing


def refused_as_locked(response) -> bool:
    return response.status_code == 429 and LOCKED in response.content.decode()


def test_wrong_passwords_lock_the_account_and_the_right_one_is_refused_until_the_cool_off_ends(login_page, stefan):
    page, landing = login_page
    assert settings.LOGIN_FAILURE_LIMIT == 5 and settings.LOGIN_LOCKOUT_MINUTES == 15
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for attempt in range(1, 5):
            wrong = sign_in(page, "stefan", f"guess-{attempt}")
            assert wrong.status_code == 200, "below the limit a wrong password is only a wrong password"
            assert "Try again" not in wrong.content.decode()
        fifth = sign_in(page, "stefan", "guess-5")
        assert refused_as_locked(fifth), fifth.content.decode()
        assert fifth["Retry-After"] == "900"

        assert refused_as_locked(sign_in(page, "stefan", PASSWORD)), "the right password is refused while locked"
        assert refused_as_locked(sign_in(page, "stefan", PASSWORD, address=ELSEWHERE)), "the account is locked"

        clock.shift(timedelta(minutes=14))
        assert refused_as_locked(sign_in(page, "stefan", PASSWORD)), "still locked: each refused try restarts it"
        clock.shift(timedelta(minutes=15, seconds=1))
        assert signed_in(sign_in(page, "stefan", PASSWORD), landing), "the lock ends with the cool-off"


def test_wrong_passwords_from_one_address_lock_that_address_for_every_account(login_page, stefan):
    page, landing = login_page
    assert settings.LOGIN_ADDRESS_FAILURE_LIMIT == 30
    for attempt in range(30):
        sign_in(page, f"user-{attempt % 10}", "guess")  # three tries each: no account reaches its own limit
    assert refused_as_locked(sign_in(page, "stefan", PASSWORD)), "the address is locked, whoever signs in from it"
    assert signed_in(sign_in(page, "stefan", PASSWORD, address=ELSEWHERE), landing), "another address is not"


def test_colleagues_typos_behind_one_office_address_do_not_lock_the_office(login_page, stefan):
    """Operators share their office's address: the account's limit, reached by others, is not the address's."""
    page, landing = login_page
    for attempt in range(29):
        sign_in(page, f"colleague-{attempt % 7}", "typo")
    assert signed_in(sign_in(page, "stefan", PASSWORD), landing)


def test_four_wrong_passwords_then_the_right_one_signs_in(login_page, stefan):
    page, landing = login_page
    for attempt in range(4):
        sign_in(page, "stefan", f"guess-{attempt}")
    assert signed_in(sign_in(page, "stefan", PASSWORD), landing)


def test_the_lockout_message_is_the_sign_in_page_itself(stefan):
    for attempt in range(5):
        response = sign_in("/console/login/", "stefan", f"guess-{attempt}")
    html = response.content.decode()
    assert response.status_code == 429
    assert 'name="username"' in html and LOCKED in html, "the page says why, where the user looks"


# --- TOTP two-factor ---------------------------------------------------------------------------------------


def totp_device(user, *, confirmed: bool = True) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=confirmed)


def codes_now(device: TOTPDevice) -> list[str]:
    """The codes the device accepts now (one step of tolerance either side), the current one first."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    now = time.time()
    codes = []
    for offset in (0, -device.step, device.step):
        totp.time = now + offset
        codes.append(f"{totp.token():0{device.digits}d}")
    return codes


def a_wrong_code(device: TOTPDevice) -> str:
    accepted = set(codes_now(device))
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def test_a_user_with_a_totp_device_needs_its_code(login_page, stefan):
    page, landing = login_page
    device = totp_device(stefan)

    without = sign_in(page, "stefan", PASSWORD)
    assert without.status_code == 200
    assert "This account uses two-factor sign-in" in without.content.decode()

    wrong = sign_in(page, "stefan", PASSWORD, code=a_wrong_code(device))
    assert wrong.status_code == 200
    assert "That code is not valid" in wrong.content.decode()

    browser = Client(REMOTE_ADDR=HOME)
    right = browser.post(
        page, {"username": "stefan", "password": PASSWORD, "otp_token": codes_now(device)[0], "next": landing}
    )
    assert signed_in(right, landing)
    assert browser.session[DEVICE_ID_SESSION_KEY] == device.persistent_id, "the session records the second factor"


def test_a_totp_code_is_accepted_once(stefan):
    device = totp_device(stefan)
    code = codes_now(device)[0]
    assert signed_in(sign_in("/console/login/", "stefan", PASSWORD, code=code), "/console/")
    replayed = sign_in("/console/login/", "stefan", PASSWORD, code=code, address=ELSEWHERE)
    assert replayed.status_code == 200 and "That code is not valid" in replayed.content.decode()


def test_a_wrong_code_with_the_right_password_is_password_guessing_too(login_page, stefan):
    page, _landing = login_page
    device = totp_device(stefan)
    wrong = a_wrong_code(device)
    for _ in range(4):
        assert sign_in(page, "stefan", PASSWORD, code=wrong).status_code == 200
    assert refused_as_locked(sign_in(page, "stefan", PASSWORD, code=wrong))
    assert refused_as_locked(sign_in(page, "stefan", PASSWORD, code=codes_now(device)[0], address=ELSEWHERE))


def test_a_user_without_a_confirmed_device_signs_in_with_the_password_alone(login_page, stefan):
    page, landing = login_page
    totp_device(stefan, confirmed=False)  # enrolment begun, never confirmed
    assert signed_in(sign_in(page, "stefan", PASSWORD), landing)


def test_both_sign_in_pages_offer_the_code_field(client):
    for page, _landing in LOGIN_PAGES.values():
        html = client.get(page).content.decode()
        assert 'name="otp_token"' in html
        assert 'autocomplete="one-time-code"' in html

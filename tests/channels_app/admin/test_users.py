"""No escalation in the admin (issue 13, point 3): a non-superuser administrator, through the real admin pages,
cannot make anyone a superuser, hand out permissions, change their own groups, or touch a superuser or anyone
more privileged than themselves; they still create users and make them operators or supervisors."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice

from channels_app.engine.roles import ADMINISTRATORS, OPERATORS, SUPERVISORS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


def change_url(user) -> str:
    return f"/admin/auth/user/{user.pk}/change/"


def user_form(user, **overrides) -> dict:
    """The user change form as the browser posts it (the current values, then ``overrides``)."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [permission.pk for permission in user.user_permissions.all()],
    }
    for flag in ("is_active", "is_staff", "is_superuser"):
        if getattr(user, flag):
            data[flag] = "on"
    for key, value in overrides.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = "on" if value is True else value
    return data


def group(name: str) -> Group:
    return Group.objects.get(name=name)


def permission(code: str) -> Permission:
    app_label, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def ada(db):
    return UserFactory(username="ada", is_staff=True, is_superuser=True)


@pytest.fixture
def adam(db):
    """An administrator who is not a superuser."""
    user = UserFactory(username="adam")
    user.groups.add(group(ADMINISTRATORS))
    return user


@pytest.fixture
def olga(db):
    user = UserFactory(username="olga", first_name="Olga")
    user.groups.add(group(OPERATORS))
    return user


@pytest.fixture
def as_adam(client, adam):
    client.force_login(adam)
    return client


def test_an_administrator_cannot_make_themselves_superuser_nor_grant_themselves_anything(as_adam, adam):
    response = as_adam.post(
        change_url(adam),
        user_form(
            adam,
            first_name="Adam",
            is_superuser=True,
            user_permissions=[permission("auth.delete_user").pk, permission("auth.change_group").pk],
            groups=[group(ADMINISTRATORS).pk, group(SUPERVISORS).pk],
        ),
    )
    assert response.status_code == 302, "the page saves what they may change"
    adam.refresh_from_db()
    assert adam.first_name == "Adam"
    assert not adam.is_superuser
    assert not adam.user_permissions.exists()
    assert list(adam.groups.values_list("name", flat=True)) == [ADMINISTRATORS]


def test_an_administrator_cannot_make_another_user_superuser_or_give_them_permissions(as_adam, olga):
    response = as_adam.post(
        change_url(olga),
        user_form(olga, is_superuser=True, user_permissions=[permission("auth.change_user").pk]),
    )
    assert response.status_code == 302
    olga.refresh_from_db()
    assert not olga.is_superuser
    assert not olga.user_permissions.exists()
    page = as_adam.get(change_url(olga)).content.decode()
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page, "shown read-only"


def test_an_administrator_makes_an_operator_a_supervisor(as_adam, olga):
    response = as_adam.post(change_url(olga), user_form(olga, groups=[group(OPERATORS).pk, group(SUPERVISORS).pk]))
    assert response.status_code == 302
    assert set(olga.groups.values_list("name", flat=True)) == {OPERATORS, SUPERVISORS}


def test_an_administrator_cannot_put_anyone_in_a_group_beyond_their_own_rights(as_adam, olga):
    schedulers = Group.objects.create(name="Schedulers")
    schedulers.permissions.add(permission("django_celery_beat.change_periodictask"))
    response = as_adam.post(change_url(olga), user_form(olga, groups=[group(OPERATORS).pk, schedulers.pk]))
    assert response.status_code == 200
    assert "is not one of the available choices" in response.content.decode()
    assert list(olga.groups.values_list("name", flat=True)) == [OPERATORS]


def test_an_administrator_cannot_change_delete_or_reset_the_password_of_a_superuser(as_adam, ada):
    page = as_adam.get(change_url(ada))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode(), "read-only"
    assert as_adam.post(change_url(ada), user_form(ada, first_name="Hacked", is_staff=False)).status_code == 403

    password_url = f"/admin/auth/user/{ada.pk}/password/"
    assert as_adam.get(password_url).status_code == 403
    response = as_adam.post(password_url, {"password1": "taken-over-42", "password2": "taken-over-42"})
    assert response.status_code == 403

    assert as_adam.post(f"/admin/auth/user/{ada.pk}/delete/", {"post": "yes"}).status_code == 403
    as_adam.post("/admin/auth/user/", {"action": "delete_selected", "_selected_action": [ada.pk], "post": "yes"})

    ada.refresh_from_db()
    assert ada.first_name == "Ada" and ada.is_staff and ada.is_superuser
    assert ada.check_password("pass-1234-word")


def test_an_administrator_cannot_change_someone_more_privileged_than_themselves(as_adam):
    auditor = UserFactory(username="auditor")
    auditor.user_permissions.add(permission("auth.delete_user"))
    assert as_adam.post(change_url(auditor), user_form(auditor, first_name="Changed")).status_code == 403
    assert as_adam.get(f"/admin/auth/user/{auditor.pk}/password/").status_code == 403
    auditor.refresh_from_db()
    assert auditor.first_name == "Auditor"


def test_an_administrator_creates_a_user_who_is_no_superuser(as_adam):
    response = as_adam.post(
        "/admin/auth/user/add/",
        {"username": "nina", "usable_password": "true", "password1": "a-new-pass-2026", "password2": "a-new-pass-2026"},
    )
    assert response.status_code == 302
    nina = User.objects.get(username="nina")
    assert not nina.is_superuser and not nina.user_permissions.exists()


def test_a_superuser_may_still_change_all_of_it(client, ada, olga):
    client.force_login(ada)
    schedulers = Group.objects.create(name="Schedulers")
    response = client.post(
        change_url(olga),
        user_form(olga, is_superuser=True, groups=[schedulers.pk], user_permissions=[permission("auth.add_user").pk]),
    )
    assert response.status_code == 302
    olga.refresh_from_db()
    assert olga.is_superuser
    assert list(olga.groups.values_list("name", flat=True)) == ["Schedulers"]
    assert list(olga.user_permissions.values_list("codename", flat=True)) == ["add_user"]


# --- TOTP devices -------------------------------------------------------------------------------------------


def device_form(user) -> dict:
    return {
        "user": user.pk,
        "name": "phone",
        "confirmed": "on",
        "key": "3132333435363738393031323334353637383930",
        "step": 30,
        "t0": 0,
        "digits": 6,
        "tolerance": 1,
        "drift": 0,
        "throttling_failure_count": 0,
    }


def test_an_administrator_enrols_a_device_for_a_supervisor_and_shows_its_qr_code(as_adam):
    stefan = UserFactory(username="stefan")
    stefan.groups.add(group(SUPERVISORS))
    response = as_adam.post("/admin/otp_totp/totpdevice/add/", device_form(stefan))
    assert response.status_code == 302
    device = TOTPDevice.objects.get(user=stefan)
    qrcode = as_adam.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/")
    assert qrcode.status_code == 200
    assert qrcode["Content-Type"] == "image/svg+xml"
    assert b"<svg" in qrcode.content


def test_an_administrator_never_reads_nor_gives_a_superusers_device(as_adam, ada):
    device = TOTPDevice.objects.create(user=ada, name="ada's phone", confirmed=True)
    assert "ada&#x27;s phone" not in as_adam.get("/admin/otp_totp/totpdevice/").content.decode()
    assert as_adam.get(f"/admin/otp_totp/totpdevice/{device.pk}/config/").status_code == 404
    assert as_adam.get(f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/").status_code == 404
    assert as_adam.get("/admin/otp_totp/totpdevice/999999/qrcode/").status_code == 404

    response = as_adam.post("/admin/otp_totp/totpdevice/add/", device_form(ada))
    assert response.status_code == 200, "a superuser is not one of the users they may pick"
    assert TOTPDevice.objects.filter(user=ada).count() == 1

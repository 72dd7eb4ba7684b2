"""Celery beat's admin pages are for superusers only (issue 13, point 3): a periodic task runs any task with the
workers' rights, so no role, and no permission handed out one by one, reaches them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from channels_app.engine.roles import ADMINISTRATORS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCHEDULE_PAGES = ("periodictask", "intervalschedule", "crontabschedule", "solarschedule", "clockedschedule")


@pytest.fixture
def adam(db):
    user = UserFactory(username="adam")
    user.groups.add(Group.objects.get(name=ADMINISTRATORS))
    return user


def test_the_administrators_role_holds_no_beat_permission():
    administrators = Group.objects.get(name=ADMINISTRATORS)
    assert not administrators.permissions.filter(content_type__app_label="django_celery_beat").exists()


@pytest.mark.parametrize("model", SCHEDULE_PAGES)
def test_a_non_superuser_with_every_beat_permission_is_still_refused(client, adam, model):
    adam.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_celery_beat"))
    client.force_login(adam)
    assert client.get(f"/admin/django_celery_beat/{model}/").status_code == 403
    assert client.get(f"/admin/django_celery_beat/{model}/add/").status_code == 403


def test_an_administrator_cannot_schedule_a_task_nor_see_the_schedules(client, adam):
    client.force_login(adam)
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    response = client.post(
        "/admin/django_celery_beat/periodictask/add/",
        {"name": "mine", "regtask": "celery.backend_cleanup", "interval": every_second.pk, "enabled": "on"},
    )
    assert response.status_code == 403
    assert not PeriodicTask.objects.filter(name="mine").exists()
    assert "/admin/django_celery_beat/" not in client.get("/admin/").content.decode()


@pytest.mark.parametrize("model", SCHEDULE_PAGES)
def test_a_superuser_keeps_the_schedules(client, model):
    client.force_login(UserFactory(username="ada", is_superuser=True))
    assert client.get(f"/admin/django_celery_beat/{model}/").status_code == 200
    assert client.get(f"/admin/django_celery_beat/{model}/add/").status_code == 200

"""Users, their two-factor devices, and the admin's sign-in: nobody gains in the admin more than they hold.

A superuser manages anyone. Anyone else (the Administrators role holds ``auth.change_user``) manages only
*manageable* users: not superusers, and holding no permission the editor lacks (directly or through a group).
So a non-superuser:

- cannot change a superuser, or anyone more privileged than themselves, at all: their page is read-only and
  their password, deletion and TOTP devices are refused;
- never sets ``is_superuser`` or ``user_permissions`` (read-only for them everywhere), nor their own groups;
- may create users and put manageable users in groups whose permissions they hold themselves (that is how an
  administrator makes someone an operator or a supervisor).

The admin's login page is Django's, with the TOTP code of :mod:`channels_app.console.signin` and its throttling.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin as DjangoOTPTOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from channels_app.console.signin import SecondFactorForm
from channels_app.engine import access

User = get_user_model()
Editor = AbstractBaseUser | AnonymousUser


def _permissions_not_held(editor: Editor) -> QuerySet[Permission]:
    held = Permission.objects.filter(Q(user=editor.pk) | Q(group__user=editor.pk))
    return Permission.objects.exclude(pk__in=held.values("pk"))


def manageable_users(editor: Editor) -> QuerySet[Any]:
    """The users ``editor`` may change, delete or give a device: all for a superuser; otherwise the users who
    are not superusers and hold no permission ``editor`` lacks."""
    users = User.objects.all()
    if getattr(editor, "is_superuser", False):
        return users
    not_held = _permissions_not_held(editor)
    return (
        users.filter(is_superuser=False)
        .exclude(user_permissions__in=not_held)
        .exclude(groups__permissions__in=not_held)
        .distinct()
    )


def assignable_groups(editor: Editor) -> QuerySet[Group]:
    """The groups ``editor`` may put someone in: every group for a superuser, else those within their own rights."""
    groups = Group.objects.all()
    if getattr(editor, "is_superuser", False):
        return groups
    return groups.exclude(permissions__in=_permissions_not_held(editor)).distinct()


def may_manage(editor: Editor, user: Model) -> bool:
    return manageable_users(editor).filter(pk=user.pk).exists()


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Ignored when posted: only a superuser makes superusers or hands out single permissions.
            readonly += ["is_superuser", "user_permissions"]
            if obj is not None and obj.pk == request.user.pk:
                readonly.append("groups")
        return readonly

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Also guards the password form (UserAdmin.user_change_password asks this for the user in question).
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The changelist's bulk delete asks this for every selected user too.
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or may_manage(request.user, obj))

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups":
            # A posted group outside these is refused as "not one of the available choices".
            kwargs["queryset"] = assignable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(DjangoOTPTOTPDeviceAdmin):
    """django-otp's admin (the enrolment QR code included), limited to the devices of manageable users: a
    non-superuser never reads a superuser's key, nor gives a superuser a device."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[TOTPDevice]:
        return super().get_queryset(request).filter(user__in=manageable_users(request.user))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = manageable_users(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _visible_device_id(self, request: HttpRequest, pk: int) -> int:
        # django-otp's views look the device up in every user's devices, and a missing one is a 500: answer 404.
        if not self.get_queryset(request).filter(pk=pk).exists():
            raise Http404("No such device.")
        return pk

    def config_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return super().config_view(request, self._visible_device_id(request, pk))

    def qrcode_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return super().qrcode_view(request, self._visible_device_id(request, pk))


class AdminSignInForm(SecondFactorForm, AuthenticationForm):
    """The admin's sign-in: administrators and supervisors only (``access.uses_admin``, never ``is_staff``),
    throttled, with the TOTP code for users with a device. Someone without the role reads the same message as
    for a wrong password: the form does not tell who has an account."""

    required_css_class = "required"  # as Django's admin form: the template marks required fields

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not access.uses_admin(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


admin.site.login_form = AdminSignInForm
admin.site.login_template = "admin/signin.html"

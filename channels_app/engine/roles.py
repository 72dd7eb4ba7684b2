"""O4: the three roles (groups) and their permissions.

Used by the ``0003_roles`` migration on a fresh database and again after every
``migrate`` (post_migrate), so models added later reach the Administrators
group too. Re-running changes nothing.
"""

from __future__ import annotations

ADMINISTRATORS = "Administrators"
SUPERVISORS = "Supervisors"
OPERATORS = "Operators"

ADMINISTRATOR_APPS = ("channels_app", "crm", "kpi", "otp_totp")
ADMINISTRATOR_EXTRA = ("auth.view_user", "auth.add_user", "auth.change_user", "auth.view_group")
SUPERVISOR_PERMISSIONS = (
    "kpi.view_kpi",
    "kpi.view_supervisorrating",
    "kpi.add_supervisorrating",
    "kpi.change_supervisorrating",
    "channels_app.view_openchannel",
    "channels_app.view_conversation",
    "channels_app.view_message",
    "channels_app.view_routingdecision",
    "channels_app.view_client",
    "channels_app.view_clientrating",
    "channels_app.view_operatorprofile",
    "channels_app.view_leaveperiod",
    "channels_app.add_leaveperiod",
    "channels_app.change_leaveperiod",
    "crm.view_contact",
    "crm.view_lead",
)
OPERATOR_PERMISSIONS = (
    "channels_app.view_cannedreply",
    "channels_app.view_cannedreplylist",
    "crm.view_contact",
    "crm.change_contact",
    "crm.view_lead",
    "crm.add_lead",
)


def apply_roles(Group, Permission) -> None:
    """Create the groups and give them their permissions (model classes passed in, so migrations can use it)."""

    def permissions(codes):
        wanted = [code.split(".") for code in codes]
        found = []
        for app_label, codename in wanted:
            permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if permission is not None:
                found.append(permission)
        return found

    administrators, _ = Group.objects.get_or_create(name=ADMINISTRATORS)
    administrators.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS),
        *permissions(ADMINISTRATOR_EXTRA),
    )
    supervisors, _ = Group.objects.get_or_create(name=SUPERVISORS)
    supervisors.permissions.add(*permissions(SUPERVISOR_PERMISSIONS))
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.add(*permissions(OPERATOR_PERMISSIONS))


def sync_roles(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    apply_roles(Group, Permission)


def can_operate_q():
    """The users who can take conversations: in the Operators group or holding an operator profile.

    A ``Q`` over the user model (it joins the groups: call ``.distinct()`` on the queryset). Supervisors and
    administrators qualify only when they operate too; the queue editor offers and accepts only these users.
    """
    from django.db.models import Q

    return Q(operator_profile__isnull=False) | Q(groups__name=OPERATORS)


def can_operate(user) -> bool:
    """Whether ``user`` can take conversations (:func:`can_operate_q` for one user)."""
    return type(user)._default_manager.filter(can_operate_q(), pk=user.pk).exists()

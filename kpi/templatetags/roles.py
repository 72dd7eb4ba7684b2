"""Template filters that ask ``channels_app.engine.access`` about a role, so a page never decides one itself."""

from __future__ import annotations

from django import template

from channels_app.engine import access

register = template.Library()


@register.filter
def uses_admin(user) -> bool:
    """Show the link to the admin? Administrators and supervisors of an open channel (never ``is_staff``)."""
    return access.uses_admin(user)

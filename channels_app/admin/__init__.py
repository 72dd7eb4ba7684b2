"""Django admin for open channels and everything they own: importing the package registers every page.

=================  ==============================================================
``open_channel``   the open channel in tabs (queue, hours, connectors…), holidays
``connector``      connectors, with their webhook address or widget snippet
``credentials``    the connectors' write-only access token and app secret (both pages)
``conversation``   conversations, clients and ratings (read-only, for audits)
``operator``       operator profiles and leave periods
``exports``        data exports of a client or a CRM contact (administrators only)
``content``        consent forms, canned replies, chatbots
``resources``      CSV/XLSX import and export of canned replies and holidays
``users``          users and TOTP devices without privilege escalation; the admin's sign-in
``schedules``      Celery beat's periodic tasks and schedules, for superusers only
``audit``          the audit log of access to personal data, read-only, administrators only
=================  ==============================================================
"""

from channels_app.admin import (
    audit,
    connector,
    content,
    conversation,
    exports,
    open_channel,
    operator,
    schedules,
    users,
)

__all__ = ["audit", "connector", "content", "conversation", "exports", "open_channel", "operator", "schedules", "users"]

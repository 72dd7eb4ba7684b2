"""``manage.py seed_demo``: demo users, two open channels with live chat, canned replies.

Idempotent: every object is fetched or created by a natural key, and
passwords are set only when the user is first created, so running it again
(``make run`` does on every start) neither duplicates nor resets anything.

Refused with DEBUG off: the demo logins and their password are published
(README, ``make run``'s banner), so they must never exist on a real site.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from channels_app import models as m
from channels_app.engine.roles import ADMINISTRATORS, OPERATORS, SUPERVISORS

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 -- the published demo login, printed by `make run`

# username, first name, last name, role, superuser
DEMO_USERS = (
    ("admin", "Ada", "Admin", ADMINISTRATORS, True),
    ("supervisor", "Stefan", "Supervisor", SUPERVISORS, False),
    ("olga", "Olga", "Nowak", OPERATORS, False),
    ("piotr", "Piotr", "Kowalski", OPERATORS, False),
    ("quynh", "Quynh", "Nguyen", OPERATORS, False),
)

CANNED_REPLIES = (
    ("hello", "Greeting", "Hello! How can I help you today?"),
    ("thanks", "Thanks", "Thank you for your patience."),
    ("hours", "Opening hours", "We are open Monday to Friday, 9:00 to 17:00."),
    ("bye", "Goodbye", "Thank you for contacting us. Have a nice day!"),
)


class Command(BaseCommand):
    help = "Load demo data (users, open channels, live-chat connectors, canned replies). Safe to run again."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "Demo data is never loaded with DEBUG off: its logins and password are public. "
                "Set DEBUG=true on a development machine, or create real users with manage.py createsuperuser."
            )
        self._seed()

    @transaction.atomic
    def _seed(self) -> None:
        User = get_user_model()
        users = {}
        created_users = 0
        for username, first, last, role, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_superuser": superuser,
                },
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                created_users += 1
            user.groups.add(Group.objects.get(name=role))
            if role == OPERATORS:
                m.OperatorProfile.objects.get_or_create(user=user, defaults={"display_name": f"{first} {last[0]}."})
            users[username] = user

        replies, _ = m.CannedReplyList.objects.get_or_create(name="Standard replies")
        for shortcut, title, text in CANNED_REPLIES:
            m.CannedReply.objects.get_or_create(
                reply_list=replies, shortcut=shortcut, defaults={"title": title, "text": text}
            )

        channels = (
            ("Website support", "demo-support", ("olga", "piotr", "quynh"), m.DistributionMode.EVENLY),
            ("Sales", "demo-sales", ("piotr", "quynh"), m.DistributionMode.ALL_AT_ONCE),
        )
        for name, site_key, members, mode in channels:
            channel, _ = m.OpenChannel.objects.get_or_create(
                name=name, defaults={"distribution_mode": mode, "canned_reply_list": replies}
            )
            for position, username in enumerate(members):
                m.QueueMember.objects.get_or_create(
                    open_channel=channel, operator=users[username], defaults={"position": position}
                )
            # Roles are per open channel: the demo supervisor supervises both.
            channel.supervisors.add(users["supervisor"])
            m.Connector.objects.get_or_create(
                kind=m.ConnectorKind.LIVECHAT,
                account_id=site_key,
                defaults={"open_channel": channel, "name": f"{name} website", "public_key": site_key},
            )

        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created_users} new users). Logins (password {DEMO_PASSWORD}): "
                + ", ".join(username for username, *_ in DEMO_USERS)
            )
        )

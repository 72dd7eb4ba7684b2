"""factory_boy factories for the domain models."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels_app import models as m
from crm import models as crm


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.LazyAttribute(lambda o: o.username.capitalize())
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pass-1234-word")
        if create:
            obj.save(update_fields=["password"])

    @factory.post_generation
    def roles(obj, create, extracted, **kwargs):
        """``UserFactory(roles=["Administrators"])``: the user joins these role groups (engine.roles creates them)."""
        if create and extracted:
            from django.contrib.auth.models import Group

            obj.groups.add(*Group.objects.filter(name__in=extracted))


class OperatorFactory(UserFactory):
    """A user with an operator profile, online and clocked in unless told otherwise."""

    @factory.post_generation
    def profile(obj, create, extracted, **kwargs):
        if not create:
            return
        now = timezone.now()
        defaults = {
            "clocked_in": True,
            "clocked_in_at": now,
            "is_online": True,
            "console_heartbeat_at": now,
            "last_activity_at": now,
        }
        defaults.update(kwargs)
        m.OperatorProfile.objects.update_or_create(user=obj, defaults=defaults)


class OpenChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.OpenChannel

    name = factory.Sequence(lambda n: f"Open channel {n + 1}")


class QueueMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.QueueMember

    open_channel = factory.SubFactory(OpenChannelFactory)
    operator = factory.SubFactory(OperatorFactory)
    position = factory.Sequence(lambda n: n)


class ConnectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Connector

    open_channel = factory.SubFactory(OpenChannelFactory)
    kind = m.ConnectorKind.LIVECHAT
    account_id = factory.Sequence(lambda n: f"site-{n}")


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Client

    connector = factory.SubFactory(ConnectorFactory)
    external_id = factory.Sequence(lambda n: f"visitor-{n}")
    name = factory.Sequence(lambda n: f"Client {n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Conversation

    client = factory.SubFactory(ClientFactory)
    connector = factory.LazyAttribute(lambda o: o.client.connector)
    open_channel = factory.LazyAttribute(lambda o: o.connector.open_channel)
    created_at = factory.LazyFunction(timezone.now)
    queued_at = factory.LazyAttribute(lambda o: o.created_at)
    last_message_at = factory.LazyAttribute(lambda o: o.created_at)


class CannedReplyListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.CannedReplyList

    name = factory.Sequence(lambda n: f"Replies {n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = crm.Contact

    full_name = factory.Sequence(lambda n: f"Contact {n}")

"""The admin shows each person only the open channels they read (every one to an administrator)."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from channels_app.engine import access


class ChannelScopedAdmin(admin.ModelAdmin):
    """Lists and opens only the rows of the signed-in person's open channels; a row of another channel is
    answered as if it did not exist. ``open_channel_paths`` lead from a row to its open channel."""

    open_channel_paths: ClassVar[tuple[str, ...]]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        return access.restrict_to_channels(super().get_queryset(request), request.user, *self.open_channel_paths)

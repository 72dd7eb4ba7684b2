"""M5: lists of ready answers an operator inserts by ``/shortcut``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CannedReplyList(models.Model):
    """M5: a named list of ready answers used by one or more open channels."""

    name = models.CharField(_("name"), max_length=120, unique=True)

    class Meta:
        verbose_name = _("canned reply list")
        verbose_name_plural = _("canned reply lists")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CannedReply(models.Model):
    reply_list = models.ForeignKey(CannedReplyList, related_name="replies", on_delete=models.CASCADE)
    shortcut = models.SlugField(_("shortcut"), max_length=40, help_text=_("Typed as /shortcut in the console."))
    title = models.CharField(_("title"), max_length=120, blank=True)
    text = models.TextField(_("text"))

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["reply_list", "shortcut"]
        constraints = [models.UniqueConstraint(fields=["reply_list", "shortcut"], name="canned_reply_unique_shortcut")]

    def __str__(self) -> str:
        return f"/{self.shortcut}"

"""A1: consent forms, their immutable versions, and who accepted which version when."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models.connector import ConnectorKind
from channels_app.models.conversation import OPEN_STATUSES
from channels_app.models.shared import Language


class ConsentForm(models.Model):
    """A1: a personal-data notice; each change of its text makes a new version."""

    name = models.CharField(_("name"), max_length=120)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, default=Language.ENGLISH)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("consent form")
        verbose_name_plural = _("consent forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            previous_text = ConsentForm.objects.filter(pk=self.pk).values_list("text", flat=True).first()
            if previous_text is not None and previous_text != self.text:
                self.version += 1
        super().save(*args, **kwargs)
        ConsentFormVersion.objects.get_or_create(form=self, number=self.version, defaults={"text": self.text})

    @property
    def current_version(self) -> ConsentFormVersion:
        return self.versions.get(number=self.version)


class ConsentFormVersion(models.Model):
    """The exact text a client agreed to; never edited after creation."""

    form = models.ForeignKey(ConsentForm, related_name="versions", on_delete=models.PROTECT)
    number = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["form", "-number"]
        constraints = [models.UniqueConstraint(fields=["form", "number"], name="consent_version_unique")]

    def __str__(self) -> str:
        return f"{self.form.name} v{self.number}"


class ConsentWithdrawnVia(models.TextChoices):
    """Who recorded a client's withdrawal of consent (A1, issue 19)."""

    WIDGET = "widget", _("the client, in the chat widget")
    OPERATOR = "operator", _("an operator, on the client's behalf")
    ADMIN = "admin", _("an administrator")


class ConsentRecordQuerySet(models.QuerySet):
    def standing(self) -> ConsentRecordQuerySet:
        """Not withdrawn."""
        return self.filter(withdrawn_at__isnull=True)

    def in_force(self) -> ConsentRecordQuerySet:
        """What lets a client chat without being asked: a record not withdrawn, or one withdrawn during a
        conversation that is still open (a withdrawal takes effect from the client's next conversation)."""
        return self.filter(Q(withdrawn_at__isnull=True) | Q(withdrawn_in__status__in=OPEN_STATUSES))


class ConsentRecord(models.Model):
    """A1: who agreed to which version of which form, when, and through which source; and when the client
    withdrew it, recorded by whom (issue 19). A withdrawn record stays: it is the proof of both."""

    client = models.ForeignKey("Client", related_name="consents", on_delete=models.CASCADE)
    form_version = models.ForeignKey(ConsentFormVersion, related_name="records", on_delete=models.PROTECT)
    conversation = models.ForeignKey("Conversation", null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=20, choices=ConnectorKind.choices)
    accepted_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_via = models.CharField(_("withdrawn via"), max_length=10, choices=ConsentWithdrawnVia.choices, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("withdrawal recorded by"),
        related_name="+",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
    )
    # The conversation open when it was withdrawn: it continues, the next one asks again.
    withdrawn_in = models.ForeignKey("Conversation", related_name="+", null=True, blank=True, on_delete=models.SET_NULL)

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"{self.client} accepted {self.form_version} at {self.accepted_at:%Y-%m-%d %H:%M}"

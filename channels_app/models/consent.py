"""A1: consent forms, their immutable versions, and who accepted which version when."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from channels_app.models.connector import ConnectorKind
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


class ConsentRecord(models.Model):
    """A1: who agreed to which version of which form, when, and through which source."""

    client = models.ForeignKey("Client", related_name="consents", on_delete=models.CASCADE)
    form_version = models.ForeignKey(ConsentFormVersion, related_name="records", on_delete=models.PROTECT)
    conversation = models.ForeignKey("Conversation", null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=20, choices=ConnectorKind.choices)
    accepted_at = models.DateTimeField()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-accepted_at"]

    def __str__(self) -> str:
        return f"{self.client} accepted {self.form_version} at {self.accepted_at:%Y-%m-%d %H:%M}"

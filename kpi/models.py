"""Response-time KPI records and supervisor ratings (K1–K3, R3)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class SupervisorRating(models.Model):
    """R3: a supervisor's 1–5 rating of how an operator handled a conversation."""

    conversation = models.ForeignKey(
        "channels_app.Conversation", related_name="supervisor_ratings", on_delete=models.CASCADE
    )
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="supervisor_ratings_received", null=True, on_delete=models.SET_NULL
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="supervisor_ratings_given", on_delete=models.PROTECT
    )
    score = models.PositiveSmallIntegerField(_("score"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("supervisor rating")
        verbose_name_plural = _("supervisor ratings")
        ordering = ["-created_at"]
        permissions = [("view_kpi", "Can read KPI pages and rate operators")]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "supervisor"], name="supervisor_rating_once"),
            models.CheckConstraint(condition=models.Q(score__gte=1, score__lte=5), name="supervisor_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"#{self.conversation_id}: {self.score}/5"

"""A connector's provider credentials are write-only in the admin (issue 13).

The access token, app secret, Zalo refresh token and Zalo app secret key are never sent back to the browser:
the inputs are always empty, an empty input on save keeps the stored value, a "remove" box clears it, and the page
says only whether one is stored ("set" or "not set"). A person who may view but not change connectors sees that
state in place of the fields, never the value in a read-only field. None appears in a list, a filter or a search.

:class:`WriteOnlyCredentialsAdmin` is mixed into both places that edit connectors: the connector's own page and
the connectors tab of the open channel's page, which only lists the connectors.

The form also knows each source's fields (:mod:`channels_app.admin.connector_fields`): their names and help in
that source's words, and a refusal of any value typed in a field the chosen source does not have.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.utils.translation import gettext_lazy as _

from channels_app import models as m
from channels_app.admin import connector_fields

WRITE_ONLY_FIELDS = ("access_token", "app_secret", "refresh_token", "oauth_app_secret")


def clear_field(name: str) -> str:
    return f"clear_{name}"


def state_field(name: str) -> str:
    return f"{name}_state"


def stored_state(connector: m.Connector, name: str) -> str:
    return str(_("set") if connector.pk and getattr(connector, name) else _("not set"))


class ConnectorCredentialsForm(forms.ModelForm):
    clear_access_token = forms.BooleanField(required=False, label=_("remove the stored access token"))
    clear_app_secret = forms.BooleanField(required=False, label=_("remove the stored app secret"))
    clear_refresh_token = forms.BooleanField(required=False, label=_("remove the stored refresh token"))
    clear_oauth_app_secret = forms.BooleanField(required=False, label=_("remove the stored app secret key"))

    class Meta:
        model = m.Connector
        fields = WRITE_ONLY_FIELDS  # the admin names the others

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self._kind()
        for name, own_field in list(self.fields.items()):
            label = connector_fields.label_for(name, kind)
            help_text = connector_fields.help_for(name, kind)
            if label:
                own_field.label = str(label)[:1].upper() + str(label)[1:]
                clear = self.fields.get(clear_field(name))
                if clear is not None:
                    clear.label = _("remove the stored %(name)s") % {"name": label}
            if help_text:
                own_field.help_text = str(help_text)
        for name in WRITE_ONLY_FIELDS:
            field = self.fields.get(name)
            if field is None:
                continue
            stored = bool(self.instance.pk and getattr(self.instance, name))
            # autocomplete: a browser must not fill in the administrator's own saved password here.
            field.widget = forms.PasswordInput(
                render_value=False, attrs={"autocomplete": "new-password", "class": "vTextField"}
            )
            field.widget.attrs.update(field.widget_attrs(field.widget))  # maxlength, as the text input had
            field.required = False
            state = (
                _("Stored: set. Leave empty to keep it; type a new value to replace it.")
                if stored
                else _("Stored: not set.")
            )
            own_help = connector_fields.help_for(name, kind)
            field.help_text = f"{own_help} {state}" if own_help else state
            # The stored value is not the initial value: an empty input means "unchanged", not "changed to empty".
            self.initial[name] = ""
            clear = self.fields.get(clear_field(name))
            if clear is not None and not stored:
                clear.disabled = True  # nothing to remove

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in WRITE_ONLY_FIELDS:
            if name not in self.fields:
                continue
            if cleaned.get(clear_field(name)):
                if cleaned.get(name):
                    self.add_error(name, _("Type a new value or remove the stored one, not both."))
                cleaned[name] = ""
            elif not cleaned.get(name):
                cleaned[name] = getattr(self.instance, name) if self.instance.pk else ""
        kind = cleaned.get("kind") or self.instance.kind
        if kind:
            for name in connector_fields.stray_fields(kind):
                if name in self.fields and cleaned.get(name) and name not in self.errors:
                    self.add_error(
                        name,
                        _("A %(kind)s connector has no such field: leave it empty.")
                        % {"kind": m.ConnectorKind(kind).label},
                    )
        return cleaned

    def _kind(self) -> str:
        """The source whose words the fields use: the stored one, else the one chosen (sent or preset)."""
        if self.instance.pk:
            return str(self.instance.kind)
        sent = self.data.get(self.add_prefix("kind")) if self.is_bound else None
        chosen = sent or self.initial.get("kind") or ""
        return str(chosen) if chosen in m.ConnectorKind.values else ""


class WriteOnlyCredentialsAdmin(BaseModelAdmin):
    """Mixed into a ``ModelAdmin`` or an inline of :class:`~channels_app.models.Connector` (first among the bases).

    Lays out each credential as its empty input and its "remove" box, or, for a person who may only view, as its
    stored state.
    """

    form = ConnectorCredentialsForm
    readonly_credential_fields = tuple(state_field(name) for name in WRITE_ONLY_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), *self.readonly_credential_fields)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        # A ModelAdmin's obj is the connector (None on the add page, which opens only for those who may add); an
        # inline's is the open channel, and its forms mix stored connectors with new ones, whose "remove" box the
        # form disables.
        adding = obj is None and isinstance(self, admin.ModelAdmin)
        editable = adding or self.has_change_permission(request, obj)
        return [
            (title, {**options, "fields": self._credential_layout(options["fields"], editable=editable, adding=adding)})
            for title, options in fieldsets
        ]

    @staticmethod
    def _credential_layout(fields, *, editable: bool, adding: bool) -> list:
        layout: list = []
        for entry in fields:
            if entry not in WRITE_ONLY_FIELDS:
                layout.append(entry)
            elif not editable:
                layout.append(state_field(entry))
            elif adding:
                layout.append(entry)
            else:
                layout.append((entry, clear_field(entry)))
        return layout

    @admin.display(description=_("access token"))
    def access_token_state(self, obj: m.Connector) -> str:
        return stored_state(obj, "access_token")

    @admin.display(description=_("app secret"))
    def app_secret_state(self, obj: m.Connector) -> str:
        return stored_state(obj, "app_secret")

    @admin.display(description=_("refresh token"))
    def refresh_token_state(self, obj: m.Connector) -> str:
        return stored_state(obj, "refresh_token")

    @admin.display(description=_("app secret key"))
    def oauth_app_secret_state(self, obj: m.Connector) -> str:
        return stored_state(obj, "oauth_app_secret")

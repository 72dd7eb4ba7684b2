"""Django's own texts that our catalogs translate (``locale/`` comes before Django's catalogs).

Django's Vietnamese admin catalog lacks the plural "Please correct the errors below." (the page showed it in
English), and its Polish one writes "Add another …" as "Dodaj kolejne(go)(-ną)(-ny) …"; third-party
apps in the admin come with no Polish or Vietnamese. ``makemessages`` keeps
only the msgids it finds in our sources, so they are named here; nothing imports this module.
"""

from django.utils.translation import gettext_lazy, ngettext_lazy

DJANGO_TEXTS = (
    ngettext_lazy("Please correct the error below.", "Please correct the errors below."),
    gettext_lazy("Add another %(verbose_name)s"),
    gettext_lazy("Add another %(model)s"),
    # Django 5's admin texts Django's Vietnamese catalog lacks (read aloud by screen readers).
    gettext_lazy("Skip to main content"),
    gettext_lazy("Toggle theme (current theme: auto)"),
    gettext_lazy("Toggle theme (current theme: light)"),
    gettext_lazy("Toggle theme (current theme: dark)"),
    gettext_lazy("Model name"),
    gettext_lazy("Add link"),
    gettext_lazy("Change or view list link"),
    gettext_lazy("Show counts"),
    gettext_lazy("Filter navigation items"),
    gettext_lazy("Select all objects on this page for an action"),
    gettext_lazy("Select this object for an action - {}"),
    gettext_lazy("Raw passwords are not stored, so there is no way to see the user’s password."),
    # The admin's sections of the sign-in throttling (django-axes) and of beat's schedule (django-celery-beat),
    # whose catalogs have no Polish or Vietnamese (or only part of it).
    gettext_lazy("access failures"),
    gettext_lazy("access attempts"),
    gettext_lazy("access logs"),
    gettext_lazy("Periodic Tasks"),
    gettext_lazy("periodic tasks"),
    gettext_lazy("clocked"),
    gettext_lazy("crontabs"),
    gettext_lazy("intervals"),
    gettext_lazy("solar events"),
)

"""Django's own texts that our catalogs translate (``locale/`` comes before Django's catalogs).

Django's Vietnamese admin catalog lacks the plural "Please correct the errors below." (the page showed it in
English), and its Polish one writes "Add another …" as "Dodaj kolejne(go)(-ną)(-ny) …". ``makemessages`` keeps
only the msgids it finds in our sources, so they are named here; nothing imports this module.
"""

from django.utils.translation import gettext_lazy, ngettext_lazy

DJANGO_TEXTS = (
    ngettext_lazy("Please correct the error below.", "Please correct the errors below."),
    gettext_lazy("Add another %(verbose_name)s"),
    gettext_lazy("Add another %(model)s"),
)

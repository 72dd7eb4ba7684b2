"""Which fields each source of a connector has, and what they are called there (issue 20).

A Telegram bot has a token and nothing else; Messenger and WhatsApp have a token, the Meta app's secret and
the verify token; Zalo has its OA tokens and the app that refreshes them; the website live chat has none of
them. The connector's page shows only its source's fields, the add page shows them as the source is chosen
(``static/admin_connector/kind_fields.js`` reads :func:`kind_fields_json`), and the form refuses a value in a
field its source does not have.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from channels_app.models import ConnectorKind

# The fields that belong to some sources only; the others (open channel, source, account id, label, active) are
# every source's.
PROVIDER_FIELDS = (
    "business_account_id",
    "access_token",
    "app_secret",
    "verify_token",
    "refresh_token",
    "access_token_expires_at",
    "oauth_app_id",
    "oauth_app_secret",
)

META_FIELDS = ("access_token", "app_secret", "verify_token")

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    ConnectorKind.LIVECHAT: (),
    ConnectorKind.TELEGRAM: ("access_token",),
    ConnectorKind.FACEBOOK: META_FIELDS,
    ConnectorKind.WHATSAPP: ("business_account_id", *META_FIELDS),
    ConnectorKind.ZALO: (
        "access_token",
        "app_secret",
        "refresh_token",
        "access_token_expires_at",
        "oauth_app_id",
        "oauth_app_secret",
    ),
}

# What a field is called, and what to type in it, for one source (the model's own label and help otherwise).
LABELS: dict[tuple[str, str], str | Promise] = {
    ("access_token", ConnectorKind.TELEGRAM): _("bot token"),
    ("access_token", ConnectorKind.FACEBOOK): _("page access token"),
    ("access_token", ConnectorKind.WHATSAPP): _("access token"),
    ("access_token", ConnectorKind.ZALO): _("OA access token"),
    ("app_secret", ConnectorKind.ZALO): _("OA secret key"),
    ("account_id", ConnectorKind.LIVECHAT): _("website"),
    ("account_id", ConnectorKind.TELEGRAM): _("bot id"),
    ("account_id", ConnectorKind.FACEBOOK): _("page id"),
    ("account_id", ConnectorKind.WHATSAPP): _("phone number id"),
    ("account_id", ConnectorKind.ZALO): _("Official Account id"),
}

HELP_TEXTS: dict[tuple[str, str], str | Promise] = {
    ("account_id", ""): _("Choose the source first: what this is depends on it."),
    ("account_id", ConnectorKind.LIVECHAT): _(
        "A name that tells this website apart, such as its domain (shop.example.com). The key the widget uses "
        "is generated for you: it is in the snippet to paste, shown once the connector is saved."
    ),
    ("account_id", ConnectorKind.TELEGRAM): _("The bot's id: the digits before the colon in its token."),
    ("account_id", ConnectorKind.FACEBOOK): _("The Facebook page's id (the page's About section, Page ID)."),
    ("account_id", ConnectorKind.WHATSAPP): _(
        "The phone number id from WhatsApp Manager (API setup), not the phone number itself."
    ),
    ("account_id", ConnectorKind.ZALO): _("The Official Account's id (OA id)."),
    ("business_account_id", ""): _("WhatsApp only: the WhatsApp Business Account the phone number belongs to."),
    ("business_account_id", ConnectorKind.WHATSAPP): _(
        "The WhatsApp Business Account the phone number belongs to: the app is subscribed to it for the webhook."
    ),
    ("access_token", ConnectorKind.TELEGRAM): _("The token @BotFather gave for the bot."),
    ("access_token", ConnectorKind.FACEBOOK): _("A page access token allowed to send messages for the page."),
    ("access_token", ConnectorKind.WHATSAPP): _("A system user's access token allowed to send WhatsApp messages."),
    ("access_token", ConnectorKind.ZALO): _("The OA access token; renewed on its own when the app below is set."),
    ("app_secret", ConnectorKind.FACEBOOK): _("The Meta app's secret: it proves deliveries come from Meta."),
    ("app_secret", ConnectorKind.WHATSAPP): _("The Meta app's secret: it proves deliveries come from Meta."),
    ("app_secret", ConnectorKind.ZALO): _("The OA secret key: it proves deliveries come from Zalo."),
    ("verify_token", ConnectorKind.FACEBOOK): _("Meta asks for it with the webhook address; generated for you."),
    ("verify_token", ConnectorKind.WHATSAPP): _("Meta asks for it with the webhook address; generated for you."),
}


def fields_of(kind: str) -> tuple[str, ...]:
    """The source-specific fields of ``kind`` (none for an unknown or empty kind)."""
    return KIND_FIELDS.get(kind, ())


def stray_fields(kind: str) -> tuple[str, ...]:
    """The source-specific fields ``kind`` does not have."""
    own = fields_of(kind)
    return tuple(name for name in PROVIDER_FIELDS if name not in own)


def label_for(name: str, kind: str) -> str | Promise | None:
    return LABELS.get((name, kind))


def help_for(name: str, kind: str) -> str | Promise | None:
    return HELP_TEXTS.get((name, kind))


def kind_fields_json() -> dict[str, dict]:
    """For the add page's script: per source, its fields and the words of the fields whose words change."""
    worded = sorted({name for name, _kind in (*LABELS, *HELP_TEXTS)})
    return {
        str(kind): {
            "fields": list(fields_of(kind)),
            "labels": {name: str(label_for(name, kind)) for name in worded if label_for(name, kind)},
            "help": {name: str(help_for(name, kind)) for name in worded if help_for(name, kind)},
        }
        for kind in ["", *ConnectorKind.values]
    }

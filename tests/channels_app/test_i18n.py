"""Translations (issue 7): complete catalogs, current .mo files, client-facing texts in the channel language (O3)."""

from __future__ import annotations

import gettext as gettext_module
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.utils import translation

from channels_app.bots.rules import fallback_text
from channels_app.console import i18n as console_i18n
from channels_app.engine import conversations, offers, texts
from channels_app.engine.errors import NotAllowed, ServiceError
from channels_app.engine.operators import operator_language_set
from channels_app.models import Chatbot, Message, OpenChannel
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import OperatorFactory, UserFactory

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
TRANSLATED_LANGUAGES = ("pl", "vi")
# "django": templates and Python; "djangojs": the console's scripts (served by JavaScriptCatalog).
CATALOGS = [(language, domain) for language in TRANSLATED_LANGUAGES for domain in ("django", "djangojs")]


def po_path(language: str, domain: str = "django") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{domain}.po"


@pytest.mark.parametrize(("language", "domain"), CATALOGS)
def test_every_catalog_entry_is_translated_and_none_is_fuzzy(language, domain):
    catalog = polib.pofile(str(po_path(language, domain)))
    assert len(catalog) > {"django": 300, "djangojs": 40}[domain]
    assert catalog.untranslated_entries() == []
    assert catalog.fuzzy_entries() == []
    assert catalog.metadata["Language"] == language


@pytest.mark.parametrize(("language", "domain"), CATALOGS)
def test_placeholders_survive_translation(language, domain):
    for entry in polib.pofile(str(po_path(language, domain))):
        placeholders = set(re.findall(r"%\(\w+\)[sd]|#[A-Z]+#", entry.msgid))
        translations = [entry.msgstr] if not entry.msgid_plural else list(entry.msgstr_plural.values())
        for translation_text in translations:
            # Every form keeps every placeholder: a missing one would raise or drop data when rendered.
            assert placeholders == set(re.findall(r"%\(\w+\)[sd]|#[A-Z]+#", translation_text)), (
                language,
                entry.msgid,
            )


@pytest.mark.parametrize(("language", "domain"), CATALOGS)
def test_committed_mo_files_match_their_po_files(language, domain, tmp_path):
    """Compile the .po with polib in a temporary directory and compare the catalogs Django would load."""
    fresh = tmp_path / f"{domain}.mo"
    polib.pofile(str(po_path(language, domain))).save_as_mofile(str(fresh))
    committed = po_path(language, domain).with_suffix(".mo")
    with committed.open("rb") as committed_file, fresh.open("rb") as fresh_file:
        committed_catalog = gettext_module.GNUTranslations(committed_file)._catalog
        fresh_catalog = gettext_module.GNUTranslations(fresh_file)._catalog
    # The header ("") differs by tool (msgfmt drops POT-Creation-Date); the translations must not.
    committed_catalog.pop("")
    fresh_catalog.pop("")
    assert committed_catalog == fresh_catalog


def test_client_text_defaults_are_the_model_field_defaults():
    """The translatable defaults and the model defaults are one list: an edit to one without the other fails."""
    editable = {
        OpenChannel._meta.get_field(name).default
        for name in (
            "nobody_available_text",
            "out_of_hours_text",
            "welcome_text",
            "no_answer_text",
            "close_text",
            "auto_close_text",
            "rating_request_text",
            "rating_thanks_text",
        )
    }
    editable.add(Chatbot._meta.get_field("handover_text").default)
    assert editable == texts.CLIENT_TEXT_DEFAULTS


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Thank you for contacting us."),
        ("pl", "Dziękujemy za kontakt."),
        ("vi", "Cảm ơn bạn đã liên hệ với chúng tôi."),
    ],
)
def test_O3_untouched_default_follows_the_language_and_an_edited_text_is_kept(language, expected):
    assert texts.client_text("Thank you for contacting us.", language) == expected
    assert texts.client_text("Bye from the Kraków team!", language) == "Bye from the Kraków team!"


def test_O3_client_text_ignores_the_language_active_for_the_request():
    with translation.override("pl"):
        assert texts.client_text("Thank you for contacting us.", "vi") == "Cảm ơn bạn đã liên hệ với chúng tôi."
        assert texts.client_text("Thank you for contacting us.", "en") == "Thank you for contacting us."


def system_texts(conversation) -> dict[str, str]:
    return dict(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.SYSTEM).values_list(
            "system_key", "text"
        )
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "welcome", "close", "rating_request", "thanks"),
    [
        (
            "pl",
            "Dziękujemy za wiadomość. Konsultant wkrótce odpowie.",
            "Dziękujemy za kontakt.",
            "Prosimy o ocenę naszej odpowiedzi: 👍 lub 👎",
            "Dziękujemy za opinię!",
        ),
        (
            "vi",
            "Cảm ơn bạn đã nhắn tin. Nhân viên sẽ trả lời trong giây lát.",
            "Cảm ơn bạn đã liên hệ với chúng tôi.",
            "Vui lòng đánh giá câu trả lời của chúng tôi: 👍 hoặc 👎",
            "Cảm ơn bạn đã đánh giá!",
        ),
    ],
)
def test_O3_M1_M3_R1_system_messages_go_out_in_the_channel_language(
    engine, language, welcome, close, rating_request, thanks
):
    olga = make_operator("olga")
    channel = make_channel([olga], language=language, close_on_rating=False)
    conversation = engine.receive(channel)
    offer = conversation.offers.get(operator=olga)
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="like")
    assert system_texts(conversation) == {
        "welcome": welcome,
        "close": close,
        "rating_request": rating_request,
        "rating_thanks": thanks,
    }


@pytest.mark.django_db
def test_O3_Q9_edited_text_is_sent_as_written_whatever_the_language(engine):
    channel = make_channel([], language="vi", nobody_available_text="Chờ chút nhé, bạn ơi!")
    conversation = engine.receive(channel)
    texts = system_texts(conversation)
    assert texts["nobody_available"] == "Chờ chút nhé, bạn ơi!"
    assert texts["welcome"] == "Cảm ơn bạn đã nhắn tin. Nhân viên sẽ trả lời trong giây lát."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "column"),
    [("pl", "KPI czasu odpowiedzi", "Według operatora"), ("vi", "KPI thời gian phản hồi", "Theo nhân viên")],
)
def test_K3_kpi_pages_follow_the_browser_language(client, group, language, heading, column):
    sam = UserFactory(username="sam")
    sam.groups.add(group("Supervisors"))
    client.force_login(sam)
    page = client.get("/kpi/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"<h1>{heading}</h1>" in page
    assert column in page
    assert "Response-time KPI" not in page


@pytest.mark.django_db
def test_admin_labels_in_polish_and_vietnamese(client, admin_user):
    client.force_login(admin_user)
    polish = client.get("/admin/channels_app/openchannel/add/", HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "język dla klientów" in polish.lower()
    assert "Dziękujemy za kontakt." not in polish  # the stored default stays English; it is translated when sent
    vietnamese = client.get("/admin/channels_app/openchannel/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert "kênh mở" in vietnamese.lower()


@pytest.mark.django_db
def test_B1_rule_bot_fallback_is_translated():
    bot = Chatbot(name="Pomocnik", kind=Chatbot.Kind.RULES, handover_keywords="konsultant, operator")
    assert fallback_text(bot, "pl") == (
        "Przepraszam, nie zrozumiałem. Zapytaj innymi słowami albo napisz „konsultant”, aby porozmawiać z operatorem."
    )
    bot.handover_keywords = ""
    assert fallback_text(bot, "vi") == "Xin lỗi, tôi chưa hiểu. Vui lòng hỏi theo cách khác."


@pytest.mark.django_db
def test_console_language_is_saved_on_the_profile_and_bad_codes_change_nothing():
    olga = OperatorFactory(username="olga")
    assert operator_language_set(operator=olga, language="vi") == "vi"
    assert console_i18n.operator_language(olga) == "vi"
    with pytest.raises(ServiceError):
        operator_language_set(operator=olga, language="de")
    assert console_i18n.operator_language(olga) == "vi"
    with pytest.raises(NotAllowed):
        operator_language_set(operator=UserFactory(username="sam"), language="pl")


@pytest.mark.django_db
def test_console_views_render_in_the_operator_language_whatever_the_browser_says(rf):
    @console_i18n.in_operator_language
    def view(request):
        return HttpResponse(translation.gettext("Closed") + "|" + request.LANGUAGE_CODE)

    olga = OperatorFactory(username="olga")
    operator_language_set(operator=olga, language="pl")
    request = rf.get("/console/", HTTP_ACCEPT_LANGUAGE="vi")
    request.user = olga
    with translation.override("vi"):
        response = view(request)
        assert translation.get_language() == "vi"  # the override ends with the view
    assert response.content.decode() == "Zamknięta|pl"
    assert response.headers["Content-Language"] == "pl"
    request.user = UserFactory(username="sam")
    request.LANGUAGE_CODE = "vi"
    with translation.override("vi"):
        assert view(request).content.decode() == "Đã đóng|vi"


@pytest.mark.django_db
def test_console_rest_answers_in_the_operator_language_whatever_the_browser_says(client):
    olga = OperatorFactory(username="olga")
    operator_language_set(operator=olga, language="pl")
    client.force_login(olga)
    filters = client.get(reverse("api-console-history-filters"), HTTP_ACCEPT_LANGUAGE="vi").json()
    assert {"value": "closed", "label": "Zamknięta"} in filters["statuses"]
    assert client.get(reverse("api-notifications"), HTTP_ACCEPT_LANGUAGE="vi").headers["Content-Language"] == "pl"


@pytest.mark.django_db
def test_console_language_switcher_saves_the_choice_and_refuses_bad_input(client):
    olga = OperatorFactory(username="olga")
    client.force_login(olga)
    response = client.post("/console/language/", {"language": "pl"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"
    assert console_i18n.operator_language(olga) == "pl"
    refused = client.post("/console/language/", {"language": "xx"})
    assert refused.status_code == 400
    assert "Unknown language" in refused.content.decode()
    assert console_i18n.operator_language(olga) == "pl"
    assert client.get("/console/language/").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/admin/", "/kpi/"])
def test_O3_supervisors_and_administrators_pick_their_language(client, page):
    """The admin and the KPI pages carry a language picker that posts to set_language and sticks."""
    from django.contrib.auth.models import Group

    from tests.factories import OpenChannelFactory, UserFactory

    supervisor = UserFactory(username="sara")
    supervisor.groups.add(Group.objects.get(name="Supervisors"))
    OpenChannelFactory().supervisors.add(supervisor)
    client.force_login(supervisor)
    page_html = client.get(page).content.decode()
    assert 'action="/i18n/setlang/"' in page_html
    assert '<option value="vi"' in page_html
    response = client.post("/i18n/setlang/", {"language": "vi", "next": page})
    assert response.status_code == 302 and response["Location"] == page
    assert 'lang="vi"' in client.get(page).content.decode()

"""Issue 20, point 9: every text a user reads exists in Polish and Vietnamese, and none names a requirement ID.

1. ``makemessages`` runs over a temporary view of the sources (the repository's ``locale/`` is copied there and
   never rewritten), for the ``django`` and ``djangojs`` domains, exactly as the README's workflow runs it. Every
   msgid it finds must be translated, not fuzzy, in ``pl`` and ``vi`` and present in the committed ``.mo`` files
   (a new string wrapped but not translated, or translated but not compiled, fails here with its msgid and place).
2. The console, the widget frame, the KPI page and an open channel's admin page render in ``pl`` and ``vi``, each
   chosen the way that page chooses its language, and show that language, not the English leftovers once seen.
3. No msgid or translation, and no rendered page, contains a requirement ID of ``docs/requirements.md``
   ("Q8", "A1"…): those stay in code, tests and docs.

About 15 s: ``makemessages`` runs once per module.
"""

from __future__ import annotations

import gettext as gettext_module
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import translation

from channels_app.engine.operators import operator_language_set
from kpi.services import unassigned_name
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

ROOT = Path(settings.BASE_DIR)
LANGUAGES = ("pl", "vi")
DOMAINS = ("django", "djangojs")
# The README's workflow: what makemessages skips in each domain.
IGNORED = [".venv/*", "var/*", "tests/*", "node_modules/*"]
IGNORED_BY_DOMAIN = {"django": IGNORED, "djangojs": [*IGNORED, "static/admin/*"]}
NOT_SOURCES = {".git", ".venv", "var", "tests", "node_modules", "locale"}

# The requirement IDs of docs/requirements.md: A1, B1-B2, C1-C5, H1-H2, K1-K3, M1-M5, O1-O5, Q1-Q13, R1-R3, S1-S3.
REQUIREMENT_ID = re.compile(r"(?<![\w#-])(?<!%\()[ABCHKMOQRS](?:1[0-3]|[1-9])(?![\w-])")
# Names that look like one and are not (the storage service). Add here only what cannot be reworded.
NOT_REQUIREMENT_IDS = ("Amazon S3", "S3-compatible", "S3 bucket")


def requirement_ids(text: str) -> list[str]:
    for allowed in NOT_REQUIREMENT_IDS:
        text = text.replace(allowed, "")
    return REQUIREMENT_ID.findall(text)


# --- 1. catalogs against makemessages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict[tuple[str, str], polib.POFile]:
    """The catalogs makemessages makes from today's sources, merged into copies of the committed .po files."""
    work = tmp_path_factory.mktemp("makemessages")
    for entry in ROOT.iterdir():
        if entry.name not in NOT_SOURCES and not entry.name.startswith("."):
            (work / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for language in LANGUAGES:
        target = work / "locale" / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        for domain in DOMAINS:
            shutil.copy(ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po", target)
    previous = Path.cwd()
    os.chdir(work)
    try:
        with override_settings(LOCALE_PATHS=[str(work / "locale")]):
            for domain in DOMAINS:
                call_command(
                    "makemessages",
                    locale=list(LANGUAGES),
                    domain=domain,
                    ignore_patterns=IGNORED_BY_DOMAIN[domain],
                    symlinks=True,
                    verbosity=0,
                )
    finally:
        os.chdir(previous)
    return {
        (language, domain): polib.pofile(str(work / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
        for language in LANGUAGES
        for domain in DOMAINS
    }


def active(catalog: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in catalog if not entry.obsolete and entry.msgid]


def described(entry: polib.POEntry) -> str:
    where = f"{entry.occurrences[0][0]}:{entry.occurrences[0][1]}" if entry.occurrences else "?"
    context = f"[{entry.msgctxt}] " if entry.msgctxt else ""
    return f"  {context}{entry.msgid!r}  ({where})"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_makemessages_finds_is_translated_and_not_fuzzy(extracted, language, domain):
    catalog = extracted[(language, domain)]
    assert len(active(catalog)) > {"django": 300, "djangojs": 40}[domain]  # the run did find the sources
    missing = [entry for entry in active(catalog) if not entry.translated() or "fuzzy" in entry.flags]
    assert not missing, (
        f"{len(missing)} msgid(s) without a {language} translation in locale/{language}/LC_MESSAGES/{domain}.po "
        "(run makemessages as the README says, translate, remove any fuzzy flag, compilemessages):\n"
        + "\n".join(described(entry) for entry in missing)
    )


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_files_hold_every_string_makemessages_finds(extracted, language, domain):
    """What Django loads is the .mo: a translation edited in the .po and never compiled is not shown."""
    with (ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.mo").open("rb") as mo_file:
        compiled = gettext_module.GNUTranslations(mo_file)._catalog  # type: ignore[attr-defined]
    stale = []
    for entry in active(extracted[(language, domain)]):
        if not entry.translated():
            continue  # reported by the test above
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        wanted = (
            [((key, int(index)), text) for index, text in entry.msgstr_plural.items()]
            if entry.msgid_plural
            else [(key, entry.msgstr)]
        )
        if any(compiled.get(k) != text for k, text in wanted):
            stale.append(entry)
    assert not stale, (
        f"{len(stale)} translation(s) missing or different in locale/{language}/LC_MESSAGES/{domain}.mo "
        "(run compilemessages):\n" + "\n".join(described(entry) for entry in stale)
    )


# --- 3. requirement IDs --------------------------------------------------------------------------------------------


def test_no_user_facing_string_names_a_requirement_id(extracted):
    found = set()
    for (_language, domain), catalog in extracted.items():
        for entry in active(catalog):
            texts = [entry.msgid, entry.msgid_plural, entry.msgstr, *entry.msgstr_plural.values()]
            if any(requirement_ids(text) for text in texts if text):
                found.add(f"{domain}: {described(entry).strip()}")
    assert not found, (
        "Requirement IDs belong in code, tests and docs, not in what users read; reword these:\n  "
        + "\n  ".join(sorted(found))
    )


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("Q3: 1 minute to 12 hours.", ["Q3"]),
        ("allowed only with Evenly (M2).", ["M2"]),
        ("Q13", ["Q13"]),
        ("Files on Amazon S3 and at H264 quality, <h2>, E2E, %(Q1)s, #K2#, Q14", []),
    ],
)
def test_requirement_id_pattern(text, ids):
    assert requirement_ids(text) == ids


# --- 2. pages in Polish and Vietnamese -----------------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text a reader sees or hears: element text, and the titles, labels and placeholders of elements."""

    SKIPPED = {"script", "style", "template"}
    SPOKEN = ("title", "aria-label", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIPPED:
            self.skipping += 1
        self.parts.extend(value for name, value in attrs if name in self.SPOKEN and value)
        if tag == "input" and dict(attrs).get("type") in ("submit", "button", "reset"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):
        if tag in self.SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    # The widget writes its texts from its config (json_script): they are what the visitor reads.
    config = re.search(r'<script id="livechat-config" type="application/json">(.*?)</script>', html, re.S)
    if config:
        text += "\n" + "\n".join(str(value) for value in json.loads(config.group(1))["texts"].values())
    return text


# Per language: words the page must show, and English (or half-translated) texts it once showed instead.
EXPECTED = {
    "console": {
        "pl": (["Rozmowy", "Historia", "Wyloguj", "English", "Polski", "Tiếng Việt"], ["Sign out", "angielski"]),
        "vi": (["Lịch sử", "English", "Polski", "Tiếng Việt"], ["Sign out", "Tiếng Anh", "Tiếng Ba Lan"]),
    },
    "widget": {
        "pl": (["Wyślij"], ["Send", "Start the chat", "Leave us a message", "How did we do?"]),
        "vi": (["Gửi"], ["Send", "Start the chat", "Leave us a message", "How did we do?"]),
    },
    "kpi": {
        "pl": (["KPI czasu odpowiedzi", "English", "Polski", "Tiếng Việt"], ["Response-time KPI", "angielski"]),
        "vi": (["KPI thời gian phản hồi", "English", "Polski", "Tiếng Việt"], ["Response-time KPI", "Tiếng Anh"]),
    },
    "admin": {
        "pl": (
            ["Zapisz", "English", "Polski", "Tiếng Việt"],
            ["kolejne(go)", "Save and continue", "angielski", "Add another"],
        ),
        "vi": (["Lưu", "English", "Polski", "Tiếng Việt"], ["Save and continue", "Tiếng Anh", "Add another"]),
    },
}


@pytest.fixture
def pages(client, admin_user):
    """Each page's HTML in a language, asked for the way that page picks its language."""
    supervisor = UserFactory(username="sara", roles=["Supervisors"])
    olga = OperatorFactory(username="olga")
    channel = OpenChannelFactory(name="Support")
    channel.supervisors.add(supervisor)
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)

    def page(name: str, language: str) -> str:
        client.logout()
        client.cookies.pop(settings.LANGUAGE_COOKIE_NAME, None)
        if name == "console":  # the operator's saved language, whatever the browser says
            operator_language_set(operator=olga, language=language)
            client.force_login(olga)
            response = client.get(reverse("console"), HTTP_ACCEPT_LANGUAGE="en")
        elif name == "widget":  # the open channel's language
            channel.language = language
            channel.save(update_fields=["language"])
            response = client.get(f"/livechat/frame/{connector.public_key}/", HTTP_ACCEPT_LANGUAGE="en")
        else:  # the language picker's cookie
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            if name == "kpi":
                client.force_login(supervisor)
                response = client.get("/kpi/")
            else:
                client.force_login(admin_user)
                response = client.get(f"/admin/channels_app/openchannel/{channel.pk}/change/")
        assert response.status_code == 200, (name, language, response.status_code)
        html = response.content.decode()
        assert f'<html lang="{language}"' in html, (name, language)
        return html

    return page


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", list(EXPECTED))
def test_page_speaks_the_language_and_names_no_requirement(pages, name, language):
    text = visible_text(pages(name, language))
    present, absent = EXPECTED[name][language]
    assert [word for word in present if word not in text] == []
    assert [word for word in absent if word in text] == []
    with_ids = sorted({line for line in text.splitlines() if requirement_ids(line)})
    assert not with_ids, f"requirement IDs on the {name} page in {language}:\n  " + "\n  ".join(with_ids)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "expected"),
    [("pl", "Prosimy poprawić poniższe błędy."), ("vi", "Vui lòng sửa các lỗi bên dưới.")],
)
def test_admin_form_errors_are_announced_in_the_language(client, admin_user, language, expected):
    """Django's own Vietnamese catalog lacks this sentence: ours supplies it."""
    channel = OpenChannelFactory(name="Support")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.force_login(admin_user)
    response = client.post(f"/admin/channels_app/openchannel/{channel.pk}/change/", {"name": ""})
    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert expected in text or expected.replace("błędy", "błąd").replace("poniższe", "poniższy") in text
    assert "Please correct" not in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("pl", {"CRM contact": "Kontakt w CRM", "Time left to accept": "Czas na przyjęcie"}),
        ("vi", {"CRM contact": "Liên hệ CRM", "Time left to accept": "Thời gian còn lại để nhận"}),
    ],
)
def test_console_script_catalog_is_served_in_the_operator_language(client, language, texts):
    olga = OperatorFactory(username="olga")
    operator_language_set(operator=olga, language=language)
    client.force_login(olga)
    script = client.get(reverse("console-jsi18n"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    catalog = json.loads(re.search(r"const newcatalog = (\{.*?\});", script, re.S).group(1))
    assert {english: catalog.get(english) for english in texts} == texts


@pytest.mark.parametrize(
    ("language", "unassigned"), [("en", "Nobody (unassigned)"), ("pl", "Nikt (nieprzypisana)"), ("vi", "Chưa ai nhận")]
)
def test_kpi_names_for_nobody_follow_the_language(language, unassigned):
    with translation.override(language):
        assert unassigned_name() == unassigned


@pytest.mark.parametrize(("language", "words"), [("en", "1.5 MB"), ("pl", "1,5 MB"), ("vi", "1,5 MB")])
def test_file_sizes_use_the_language_decimal_separator(language, words):
    from channels_app.engine.attachments import human_size

    with translation.override(language):
        assert human_size(3 * 1024 * 1024 // 2) == words
        assert human_size(10 * 1024 * 1024) == "10 MB"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "refusal"), [("pl", "Ta oferta nie istnieje."), ("vi", "Lời mời này không tồn tại.")]
)
def test_service_refusals_are_in_the_active_language(language, refusal):
    """A service's refusal is worded in the language active when it is raised (the console's REST: the operator's)."""
    from django.utils import timezone

    from channels_app.engine import offers
    from channels_app.engine.errors import NotFound

    olga = OperatorFactory(username="olga")
    with translation.override(language), pytest.raises(NotFound) as refused:
        offers.offer_accept(offer_id=0, operator=olga, now=timezone.now())
    assert str(refused.value) == refusal


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "refusal"), [("pl", "Ta oferta nie istnieje."), ("vi", "Lời mời này không tồn tại.")]
)
async def test_console_socket_refuses_in_the_operator_language(language, refusal):
    from channels.db import database_sync_to_async

    from tests.sockets import ask, connected_console

    def operator():
        olga = OperatorFactory(username="olga")
        operator_language_set(operator=olga, language=language)
        return olga

    console = await connected_console(await database_sync_to_async(operator)())
    try:
        answer = await ask(console, "accept", offer_id=999_999)
        assert (answer["type"], answer["message"]) == ("error", refusal)
        unknown = await ask(console, "dance")
        assert unknown["message"] != "Unknown action."
    finally:
        await console.disconnect()

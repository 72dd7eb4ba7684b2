"""K3 (issue 16, point 11): numbers a browser reads (SVG geometry, ids in form values and links) are written the same
in every language, while the numbers people read on the chart's axes follow the language."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from kpi.services import responses_record
from tests.factories import OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.kpi.conftest import minutes

SVG = "{http://www.w3.org/2000/svg}"
PERIOD = {"start": "2026-03-01", "end": "2026-03-31"}
LANGUAGES = ["en", "pl", "vi"]
# Attributes whose value the browser parses as one number each.
NUMBER_ATTRIBUTES = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "width", "height"}
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# A value made only of digits and number punctuation (a grouping space is a no-break space in Polish).
NUMBER_LIKE = re.compile(r"-?[\d.,\u00a0\u202f]*\d[\d.,\u00a0\u202f]*")


@pytest.fixture
def march(start_chat, operators):
    """Two days of March in Support: Olga answers in 1 and 2 minutes; Piotr answers late twice (two misses)."""
    olga, piotr = operators[0], operators[1]
    fast = start_chat(olga)
    fast.client(minutes(0))
    fast.operator(olga, minutes(1))
    fast.client(minutes(10))
    fast.operator(olga, minutes(12))
    slow = start_chat(piotr, created_at=minutes(24 * 60))
    slow.client(minutes(24 * 60))
    slow.operator(piotr, minutes(24 * 60 + 10))  # 10 min against a 3-minute initial target
    slow.client(minutes(24 * 60 + 20))
    slow.operator(piotr, minutes(24 * 60 + 30))  # 10 min against a 5-minute subsequent target
    for chat in (fast, slow):
        responses_record(conversation_id=chat.conversation.pk, now=minutes(3 * 24 * 60))
    return {"fast": fast, "slow": slow}


def _svg(page: str) -> ET.Element:
    match = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert match, "the overview draws its chart"
    markup = match.group(0)
    if "xmlns=" not in markup.split(">", 1)[0]:  # inline SVG in HTML needs no namespace; XML does
        markup = markup.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"', 1)
    return ET.fromstring(markup)  # noqa: S314 -- the page this test just rendered, not untrusted input


def _problems(element: ET.Element) -> list[str]:
    """Every geometry attribute that a browser could not read as a number."""
    found = []
    for node in element.iter():
        for name, value in node.attrib.items():
            if name in NUMBER_ATTRIBUTES and not PLAIN_NUMBER.fullmatch(value):
                found.append(f"<{node.tag.removeprefix(SVG)} {name}={value!r}>")
            if name == "viewBox" and not all(PLAIN_NUMBER.fullmatch(part) for part in value.split(" ")):
                found.append(f"viewBox={value!r}")
            if name == "points" and not all(
                re.fullmatch(r"-?\d+(\.\d+)?,-?\d+(\.\d+)?", pair) for pair in value.split(" ")
            ):
                found.append(f"points={value!r}")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_K3_chart_geometry_parses_in_every_language(client, supervisor, march, language, settings):
    # A language that groups thousands (1 100 wide) must not split the viewBox either.
    settings.USE_THOUSAND_SEPARATOR = True
    client.force_login(supervisor)
    page = client.get(reverse("kpi:overview"), PERIOD, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    svg = _svg(page)

    assert _problems(svg) == []
    x, y, width, height = (float(part) for part in svg.attrib["viewBox"].split(" "))
    assert (x, y, width, height) == (0, 0, 1100, 250)
    bars = svg.findall(f".//{SVG}rect")
    dots = svg.findall(f".//{SVG}circle")
    lines = svg.findall(f".//{SVG}polyline")
    assert len(bars) == 1, "one day with misses"
    assert len(dots) == 2, "two days with answers"
    assert len(lines) == 1 and len(lines[0].attrib["points"].split(" ")) == 2
    for bar in bars:
        assert float(bar.attrib["height"]) > 0 and 0 <= float(bar.attrib["y"]) < height
    for dot in dots:
        assert 0 < float(dot.attrib["cx"]) < width and 0 <= float(dot.attrib["cy"]) < height
    assert dots[0].attrib["cy"] != dots[1].attrib["cy"], "1.5 and 10 minutes stand at different heights"


@pytest.mark.parametrize(("language", "quarter"), [("en", "2.5"), ("pl", "2,5"), ("vi", "2,5")])
def test_K3_chart_axis_labels_follow_the_language(client, supervisor, march, language, quarter):
    """The left axis goes up to 10 minutes: its ticks read 0, 2.5, 5, 7.5, 10 in the reader's notation."""
    client.force_login(supervisor)
    page = client.get(reverse("kpi:overview"), PERIOD, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    labels = [text.text for text in _svg(page).iter(f"{SVG}text") if "axis-left" in text.attrib.get("class", "")]
    assert labels[1] == quarter
    assert labels[4] == "10"


class _NumberAttributes(HTMLParser):
    """Collects the attributes of a page (and the style declarations) that hold a number written for a reader."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None or name == "points":
                continue
            if name == "style":
                if re.search(r"\d,\d", value):
                    self.found.append(f"<{tag} style={value!r}>")
                continue
            if name == "href" and re.search(r"[#?&][\w-]+=\d+[\s\u00a0\u202f,.]\d", value):
                self.found.append(f"<{tag} href={value!r}>")
            # Space-separated lists (an SVG viewBox) are read number by number.
            if any(NUMBER_LIKE.fullmatch(part) and not PLAIN_NUMBER.fullmatch(part) for part in value.split(" ")):
                self.found.append(f"<{tag} {name}={value!r}>")


def _numbers_written_for_readers(page: str) -> list[str]:
    parser = _NumberAttributes()
    parser.feed(page)
    return parser.found


@pytest.mark.parametrize("language", ["pl", "vi"])
def test_K3_pages_write_numbers_in_attributes_without_the_languages_separators(
    client, supervisor, march, operators, language, settings
):
    """The overview, the wallboard and a conversation with its supervisor actions, with ids above a thousand."""
    settings.USE_THOUSAND_SEPARATOR = True
    big = OpenChannelFactory(pk=4321, name="Big")
    big.supervisors.add(supervisor)
    QueueMemberFactory(
        open_channel=march["slow"].conversation.open_channel,
        operator=OperatorFactory(pk=1234, username="ula"),
        position=9,
    )
    client.force_login(supervisor)
    conversation = reverse("kpi:conversation", args=[march["slow"].conversation.pk])
    pages = {
        "overview": client.get(reverse("kpi:overview"), PERIOD, HTTP_ACCEPT_LANGUAGE=language),
        "wallboard": client.get(reverse("kpi:wallboard"), HTTP_ACCEPT_LANGUAGE=language),
        "conversation": client.get(conversation, HTTP_ACCEPT_LANGUAGE=language),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
    html = {name: response.content.decode() for name, response in pages.items()}
    assert 'value="4321"' in html["wallboard"]
    assert 'value="1234"' in html["conversation"]
    assert {name: _numbers_written_for_readers(page) for name, page in html.items()} == {name: [] for name in html}

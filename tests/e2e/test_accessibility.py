"""No serious or critical accessibility fault on the four surfaces people use (issue 20), checked with axe-core.

axe-core (Deque's rules engine, the one browsers' accessibility tools run) comes from npm as a test dependency
(``package.json`` pins it, ``make test`` installs it with ``npm ci``). Each test opens a page as its user would,
injects ``node_modules/axe-core/axe.min.js`` and fails on any violation of impact *serious* or *critical*, printing
each rule, why it matters and the elements at fault. Moderate and minor findings are not failures.

The surfaces: the operator console (signed in, one conversation open), the website widget (open, with messages, at
a desktop and a phone size, through the end of the chat), the KPI page (a supervisor), and every tab of the open
channel's admin page (an administrator). Without axe-core installed the tests fail and say how to install it.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Frame, Page, expect

from channels_app.models import OperatorProfile
from tests.e2e.harness import in_worker
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_PATH = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
PHONE = {"width": 390, "height": 844}


def axe_script(path: Path = AXE_PATH) -> str:
    """The axe-core script; a missing install fails the test with the command that fixes it (never a skip)."""
    if not path.is_file():
        pytest.fail(
            f"axe-core is not installed ({path} is missing). Install the test tools with `npm ci` in the "
            "project's folder (`make test` does it), then run the tests again.",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")


def violations(target: Page | Frame) -> list[dict]:
    """axe-core's serious and critical violations on ``target`` (a page or a frame), as axe reports them."""
    if not target.evaluate("typeof window.axe === 'object'"):
        target.evaluate(axe_script())
    found = target.evaluate("""async () => {
        // Colours are measured as they settle: a tab just clicked is still fading to its selected colour.
        const transitions = document.getAnimations().filter((animation) => animation instanceof CSSTransition);
        await Promise.all(transitions.map((transition) => transition.finished.catch(() => null)));
        const results = await axe.run(document, { resultTypes: ["violations"] });
        return results.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
            nodes: v.nodes.map((n) => ({ target: n.target.join(" "), html: n.html, summary: n.failureSummary })),
        }));
    }""")
    return [violation for violation in found if violation["impact"] in FAILING_IMPACTS]


def readable(where: str, found: list[dict]) -> str:
    lines = [f"{len(found)} serious or critical accessibility violation(s) on {where}:"]
    for violation in found:
        lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            lines.append(f"    at {node['target']}: {node['html'][:160]}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    return "\n".join(lines)


def assert_accessible(target: Page | Frame, where: str) -> None:
    found = violations(target)
    assert not found, readable(where, found)


# --- the people and the channel ----------------------------------------------------------------------------


@pytest.fixture
def support():
    """Website support: Olga answers, Rita supervises, Ada administers; a live chat on the demo key."""
    channel = OpenChannelFactory(name="Website support")
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga N.")
    rita = UserFactory(username="rita", first_name="Rita", last_name="Supervisor")
    rita.groups.add(Group.objects.get(name="Supervisors"))
    channel.supervisors.add(rita)
    ada = UserFactory(username="ada", is_superuser=True, is_staff=True)
    connector = ConnectorFactory(open_channel=channel, public_key="a11y-site-key")
    return SimpleNamespace(channel=channel, connector=connector, olga=olga, rita=rita, ada=ada)


def open_widget(new_context, connector, viewport=None) -> tuple[Page, Frame]:
    context = new_context()
    page = context.new_page()
    if viewport:
        page.set_viewport_size(viewport)
    page.goto(f"/livechat/demo/{connector.public_key}/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    frame = next(frame for frame in page.frames if "/livechat/frame/" in frame.url)
    return page, frame


def visitor_writes(frame: Frame, text: str) -> None:
    frame.locator("#text").fill(text)
    frame.locator("#text").press("Enter")
    expect(frame.locator(".msg-client:not(.is-pending) .bubble", has_text=text)).to_be_visible()


# --- the tests ---------------------------------------------------------------------------------------------------


def test_console_and_widget_through_a_whole_chat(new_context, support):
    """The widget open with a message, the console with that conversation open, then the end of the chat."""
    console = new_context(support.olga).new_page()
    console.goto("/console/")
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    _, widget = open_widget(new_context, support.connector)

    visitor_writes(widget, "Hello, where is my parcel?")
    assert_accessible(widget, "the widget with a message")

    expect(console.locator("#list-offered .conv-item")).to_have_count(1)
    assert_accessible(console, "the console with an offer")
    console.locator("#list-offered .conv-item").click()
    console.locator("#btn-accept").click()
    expect(console.locator("#list-mine .conv-item")).to_have_count(1)
    console.locator("#reply").fill("It arrives tomorrow.")
    console.locator("#reply").press("Enter")
    expect(widget.locator(".msg-operator .bubble")).to_have_text(["It arrives tomorrow."])
    assert_accessible(console, "the console with one conversation open")
    assert_accessible(widget, "the widget with an operator's answer")

    widget.locator("#text").fill("x" * 4100)  # over the limit: the counter and the note show, in red
    expect(widget.locator("#too-long")).to_be_visible()
    assert_accessible(widget, "the widget with a message over the length limit")
    widget.locator("#text").fill("")

    console.locator("#btn-close").click()
    expect(widget.locator("#rating")).to_be_visible()
    assert_accessible(widget, "the widget asking for a rating")
    widget.locator("#rate-like").click()
    expect(widget.locator("#rating")).to_be_hidden()
    assert_accessible(widget, "the widget after the rating")


def test_widget_on_a_phone(new_context, support):
    _, widget = open_widget(new_context, support.connector, viewport=PHONE)
    assert_accessible(widget, "the widget on a phone, before the first message")
    visitor_writes(widget, "Do you ship to Gdańsk?")
    assert_accessible(widget, "the widget on a phone, with a message")


def test_kpi_page(new_context, support):
    """The supervisor's KPI page with one answered conversation in the period (a table row and a chart)."""
    from channels_app.engine.conversations import message_send_by_operator
    from channels_app.engine.inbound import message_receive
    from channels_app.engine.offers import offer_accept
    from channels_app.models import Offer
    from kpi.services import responses_record

    def seed() -> int:
        now = timezone.now()
        received = message_receive(
            connector=support.connector, external_user_id="visitor-kpi", text="Hi", source_message_id=None, now=now
        )
        offer = Offer.objects.get(conversation=received.conversation, status=Offer.Status.PENDING)
        conversation = offer_accept(offer_id=offer.pk, operator=support.olga, now=now)
        message_send_by_operator(conversation_id=conversation.pk, operator=support.olga, text="Hello!", now=now)
        responses_record(conversation_id=conversation.pk, now=timezone.now())
        return conversation.pk

    in_worker(seed)
    page = new_context(support.rita).new_page()
    page.goto("/kpi/")
    expect(page.locator("table.data tbody tr", has_text="Olga")).to_be_visible()
    assert_accessible(page, "the KPI page")


def test_open_channel_admin_page_every_tab(new_context, support):
    page = new_context(support.ada).new_page()
    page.goto(f"/admin/channels_app/openchannel/{support.channel.pk}/change/")
    tabs = page.locator("[data-tabs] [data-tab]")
    expect(tabs.first).to_be_visible()
    for index in range(tabs.count()):
        tab = tabs.nth(index)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")
        assert_accessible(page, f"the open channel's admin page, tab “{tab.inner_text().strip()}”")


def test_a_missing_axe_core_fails_with_the_install_command(tmp_path):
    with pytest.raises(pytest.fail.Exception, match=r"`npm ci`"):
        axe_script(tmp_path / "axe.min.js")


def test_the_check_fails_on_a_serious_violation(new_context):
    """The check itself catches a real fault: grey on grey text fails colour contrast."""
    page = new_context().new_page()
    page.set_content(
        '<html lang="en"><head><title>Faint</title></head>'
        '<body><main><p style="color:#bbb;background:#ccc">faint</p></main></body></html>'
    )
    found = violations(page)
    assert [violation["id"] for violation in found] == ["color-contrast"]
    assert "faint" in readable("a test page", found)

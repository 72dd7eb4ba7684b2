"""policy.files: what kind a file is, whether a channel takes it, and that markup is never served inline."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy import files

LIMITS = files.FileLimits(max_bytes=1000, groups=(files.IMAGES, files.DOCUMENTS))


def test_groups_by_extension_then_type():
    assert files.file_group("", "Invoice.PDF") == files.DOCUMENTS
    assert files.file_group("image/jpeg", "photo") == files.IMAGES
    assert files.file_group("application/octet-stream", "voice.ogg") == files.AUDIO
    assert files.file_group("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "x") == (
        files.DOCUMENTS
    )
    assert files.file_group("application/x-msdownload", "setup.exe") is None


def test_svg_and_html_belong_to_no_group_whatever_they_claim():
    assert files.file_group("image/svg+xml", "logo.svg") is None
    assert files.file_group("image/png", "logo.svg") is None
    assert files.file_group("text/html", "page.png") is None


def test_display_kind_trusts_the_sources_hint_only_for_presentation():
    assert files.display_kind("audio/ogg", "voice_1.oga", hint="voice") == files.VOICE
    assert files.display_kind("image/webp", "sticker.webp", hint="sticker") == files.STICKER
    assert files.display_kind("image/svg+xml", "x.svg", hint="sticker") == files.FILE
    assert files.display_kind("video/mp4", "clip.mp4") == files.VIDEO_CLIP
    assert files.display_kind("application/pdf", "a.pdf") == files.FILE


def test_refusals():
    assert files.refusal(LIMITS, name="a.png", mime_type="image/png", size=1000) is None
    assert files.refusal(LIMITS, name="a.png", mime_type="image/png", size=1001) == files.Refusal("too_large", 1000)
    assert files.refusal(LIMITS, name="a.png", mime_type="image/png", size=0) == files.Refusal("empty")
    assert files.refusal(LIMITS, name="a.mp3", mime_type="audio/mpeg", size=10) == files.Refusal("type_not_allowed")
    assert files.refusal(LIMITS, name="a.svg", mime_type="image/svg+xml", size=10) == files.Refusal("type_not_allowed")
    # The size of a messenger's file may be unknown until it is downloaded.
    assert files.refusal(LIMITS, name="a.png", mime_type="image/png", size=None) is None


def test_served_inline_only_for_media_a_browser_shows():
    assert files.served_inline("image/png", "a.png")
    assert files.served_inline("audio/ogg", "v.ogg")
    assert files.served_inline("video/mp4", "c.mp4")
    assert not files.served_inline("application/pdf", "a.pdf")
    assert not files.served_inline("image/heic", "a.heic")
    assert files.served_content_type("application/pdf", "a.pdf") == files.OCTET_STREAM
    assert files.served_content_type("image/png; charset=binary", "a.png") == "image/png"


MARKUP = st.sampled_from(["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "text/javascript"])
ANY_TYPE = st.one_of(MARKUP, st.sampled_from(["image/png", "image/jpeg", "video/mp4", "audio/mpeg", ""]), st.text())
NAMES = st.builds(
    lambda stem, ext: f"{stem}.{ext}",
    st.text(min_size=0, max_size=20),
    st.sampled_from(["png", "svg", "html", "htm", "xml", "jpg", "mp4", "js", "SVG", "Html", "pdf"]),
)


@given(mime_type=ANY_TYPE, name=NAMES)
def test_markup_is_never_served_inline_nor_with_its_own_type(mime_type, name):
    inline = files.served_inline(mime_type, name)
    served = files.served_content_type(mime_type, name)
    if files.is_markup(mime_type, name):
        assert not inline
        assert served == files.OCTET_STREAM
    assert served not in {"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "text/javascript"}


@given(size=st.integers(min_value=1, max_value=10**9), max_bytes=st.integers(min_value=1, max_value=10**9))
def test_nothing_over_the_limit_is_accepted(size, max_bytes):
    limits = files.FileLimits(max_bytes=max_bytes, groups=files.FILE_GROUPS)
    decision = files.refusal(limits, name="a.pdf", mime_type="application/pdf", size=size)
    assert (decision is None) == (size <= max_bytes)


def test_accept_attribute_lists_the_allowed_extensions():
    accept = files.accept_attribute((files.IMAGES,))
    assert ".png" in accept.split(",") and ".pdf" not in accept.split(",")

"""The one door every file of a conversation goes out through: ``/files/<id>/`` and its thumbnail.

Who may open a file is decided by :mod:`channels_app.engine.access`: a
signed-in person who may read the conversation, or the live-chat visitor of
that conversation through the signed ``?v=`` link their widget was given.
Anyone else gets the same 404 as for a file that does not exist.

How it is served keeps a file from ever acting as a page of this site: the
type is the real one only for images, audio and video a browser shows
(``policy.files.served_content_type``), everything else downloads as
``application/octet-stream`` with ``Content-Disposition: attachment``;
``nosniff`` stops the browser guessing, and a sandboxing CSP covers a file
opened directly.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from channels_app.engine.access import attachment_for_user, attachment_for_visitor
from channels_app.engine.errors import NotAllowed, NotFound
from channels_app.models import Attachment
from channels_app.policy import files

# Files never change under an id: browsers may keep them, but only for this viewer (a shared cache must not).
CACHE_CONTROL = "private, max-age=86400"


@require_safe
def attachment_file(request: HttpRequest, public_id) -> FileResponse:
    attachment = _allowed(request, public_id)
    return _serve(attachment.file.name, attachment, thumbnail=False)


@require_safe
def attachment_thumbnail(request: HttpRequest, public_id) -> FileResponse:
    attachment = _allowed(request, public_id)
    if not attachment.thumbnail:
        raise Http404
    return _serve(attachment.thumbnail.name, attachment, thumbnail=True)


def _allowed(request: HttpRequest, public_id) -> Attachment:
    signature = request.GET.get("v", "")
    try:
        if signature:
            return attachment_for_visitor(public_id, signature)
        return attachment_for_user(request.user, public_id)
    except NotAllowed as refusal:
        raise PermissionDenied(str(refusal)) from None
    except NotFound:
        raise Http404 from None


def _serve(path: str, attachment: Attachment, *, thumbnail: bool) -> FileResponse:
    try:
        handle = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    if thumbnail:
        response = FileResponse(handle, content_type="image/jpeg")
    else:
        inline = files.served_inline(attachment.mime_type, attachment.name)
        response = FileResponse(
            handle,
            as_attachment=not inline,
            filename=attachment.name,
            content_type=files.served_content_type(attachment.mime_type, attachment.name),
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = CACHE_CONTROL
    response["Cross-Origin-Resource-Policy"] = "same-site"
    return response

"""Issue 19, point 1: a client's (or a CRM contact's) personal data as one archive, built in the background.

=====================================  =============================================================================
:func:`export_request`                 an administrator asks; the row is created, audited, and the build queued
:func:`export_build`                   the worker writes the ZIP (``data.json`` and ``files/``) and stores it
:func:`export_download`                an administrator takes the ready archive (audited); 404 / 409 / 410 otherwise
:func:`export_sweep`                   beat: archives past their link's expiry are deleted, the rows say expired
=====================================  =============================================================================

What is in it is what the client could see, and nothing staff-only: every message of every conversation as the
client was shown it (who wrote it per :mod:`~channels_app.engine.client_view`, a message the client deleted
without its text and files, as the widget shows it: decision 0018), never private notes, earlier wordings,
delivery states, routing, offers or supervisors' ratings; the client's own rating of each conversation, the
consent records with the exact text accepted, the client's details as stored, the leads' fields, and the bytes of
every file we hold. A contact's export covers every client linked to it, across sources.

``data.json`` (``SCHEMA_VERSION`` 1; times ISO 8601 in UTC)::

    {"schema_version": 1, "generated_at": …, "subject": {"kind": "client" | "contact", "id": …},
     "contact": {"full_name", "phone", "email", "created_at"} | null,
     "clients": [{"id", "source", "source_user_id", "name", "username", "phone", "email", "unconfirmed_email",
                  "avatar_url", "created_at",
                  "consents": [{"form", "version", "text", "accepted_at", "source"}],
                  "conversations": [{"id", "channel", "started_at", "closed_at",
                                     "rating": {"value", "rated_at"} | null,
                                     "messages": [{"id", "author": "client" | "operator" | "bot" | "system",
                                                   "author_name", "text", "created_at", "edited", "deleted",
                                                   "files": [{"name", "type", "size", "kind", "state",
                                                              "path": "files/<message id>-<name>" | null}]}]}]}],
     "leads": [{"id", "title", "full_name", "phone", "email", "source", "status", "created_at"}]}

The archive is written to a temporary file (files are streamed from storage into it, never held in memory) and
saved under ``exports/<random>.zip`` in the default storage, which nothing serves: the download view reads it
through :func:`export_download`. The link lasts ``PRIVACY_EXPORT_LINK_HOURS``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from channels_app.engine import access, jobs
from channels_app.engine.audit import audit_record
from channels_app.engine.client_view import author_name_for_client, channel_identity
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.engine.file_links import attachments_of
from channels_app.models import (
    Attachment,
    AuditAction,
    Client,
    ClientRating,
    ConsentRecord,
    Conversation,
    DataExport,
    Message,
)
from crm.models import Contact, Lead

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EXPORT_FOLDER = "exports"
# How many expired archives one sweep deletes per transaction.
SWEEP_BATCH = 100
ERROR_MAX_LENGTH = 500


class ExportExpired(ServiceError):
    """The export's link has expired and its archive is gone: ask for a new export."""

    status_code = 410


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def link_lifetime() -> timedelta:
    return timedelta(hours=settings.PRIVACY_EXPORT_LINK_HOURS)


# --- asking ---------------------------------------------------------------------------------------------------


def export_request(*, actor, client_id: int | None = None, contact_id: int | None = None, now: datetime) -> DataExport:
    """An administrator asks for one client's or one CRM contact's data: the export is queued (audited).

    Exactly one of ``client_id`` and ``contact_id``; an unknown one is :class:`NotFound`, anybody but an
    administrator :class:`NotAllowed`. The build is queued after commit (``jobs.BUILD_DATA_EXPORT``)."""
    if not access.is_administrator(actor):
        raise NotAllowed(_("Only administrators export personal data."))
    if (client_id is None) == (contact_id is None):
        raise ServiceError(_("Choose one: a client or a CRM contact."))
    with transaction.atomic():
        open_channel_id = None
        if client_id is not None:
            client = Client.objects.select_related("connector").filter(pk=client_id).first()
            if client is None:
                raise NotFound(_("This client does not exist."))
            open_channel_id = client.connector.open_channel_id
        elif contact_id is not None and not Contact.objects.filter(id=contact_id).exists():
            raise NotFound(_("This CRM contact does not exist."))
        export = DataExport.objects.create(
            requested_by=actor, client_id=client_id, contact_id=contact_id, created_at=now
        )
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT_REQUESTED,
            now=now,
            open_channel_id=open_channel_id,
            client_id=client_id,
            contact_id=contact_id,
            detail={"export": str(export.public_id)},
        )
        transaction.on_commit(lambda: jobs.enqueue(jobs.BUILD_DATA_EXPORT, export.pk))
    return export


# --- building -------------------------------------------------------------------------------------------------


def export_build(*, export_id: int, now: datetime) -> DataExport | None:
    """The worker's part: claim the export, write and store its archive, mark it ready (or failed, with why).

    Idempotent: a finished export is left alone (``None``), and so is one another run is claiming at this
    instant (``skip_locked``). One still marked running is built again: that is a worker that died mid-build
    and the task redelivered (``acks_late``); should two builds overlap, the first to finish stores its
    archive and the other's is deleted. ``now`` is when the build starts; the link expires
    ``PRIVACY_EXPORT_LINK_HOURS`` after it."""
    with transaction.atomic():
        export = DataExport.objects.select_for_update(skip_locked=True).filter(pk=export_id).first()
        if export is None or export.status not in (DataExport.Status.QUEUED, DataExport.Status.RUNNING):
            return None
        export.status = DataExport.Status.RUNNING
        export.progress = 0
        export.save(update_fields=["status", "progress"])
    stored_name = ""
    try:
        with tempfile.TemporaryFile() as archive:
            _write_archive(export, archive, now)
            size = archive.tell()
            archive.seek(0)
            stored_name = default_storage.save(f"{EXPORT_FOLDER}/{uuid.uuid4().hex}.zip", File(archive))
    except Exception as error:  # anything at all: the administrator must see the export failed, and why
        logger.exception("data export %s failed", export.public_id)
        if stored_name:
            default_storage.delete(stored_name)
        return _finish(export_id, now=now, failed=f"{type(error).__name__}: {error}"[:ERROR_MAX_LENGTH])
    return _finish(export_id, now=now, stored_name=stored_name, size=size)


def _finish(
    export_id: int, *, now: datetime, stored_name: str = "", size: int = 0, failed: str = ""
) -> DataExport | None:
    with transaction.atomic():
        export = DataExport.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status != DataExport.Status.RUNNING:
            # Deleted or finished meanwhile: the archive we wrote belongs to nobody.
            if stored_name:
                transaction.on_commit(lambda: default_storage.delete(stored_name))
            return export
        export.finished_at = now
        if failed:
            export.status, export.error = DataExport.Status.FAILED, failed
        else:
            export.status, export.progress = DataExport.Status.READY, 100
            export.file, export.size, export.expires_at = stored_name, size, now + link_lifetime()
        export.save(update_fields=["status", "error", "progress", "file", "size", "finished_at", "expires_at"])
    return export


def _subject_clients(export: DataExport) -> tuple[Contact | None, list[Client]]:
    if export.client_id is not None:
        return None, list(Client.objects.select_related("connector").filter(pk=export.client_id))
    contact = Contact.objects.filter(id=export.contact_id).first() if export.contact_id is not None else None
    if contact is None:
        raise NotFound(_("The CRM contact of this export no longer exists."))
    return contact, list(Client.objects.select_related("connector").filter(contact=contact).order_by("id"))


def _write_archive(export: DataExport, archive: Any, now: datetime) -> None:
    contact, clients = _subject_clients(export)
    if export.client_id is not None and not clients:
        raise NotFound(_("The client of this export no longer exists."))
    conversations_total = Conversation.objects.filter(client__in=clients).count()
    done = 0
    lead_ids: set[int] = set(Lead.objects.filter(contact=contact).values_list("pk", flat=True)) if contact else set()
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _iso(now),
        "subject": {
            "kind": "client" if export.client_id is not None else "contact",
            "id": export.client_id or export.contact_id,
        },
        "contact": _contact_data(contact) if contact is not None else None,
        "clients": [],
        "leads": [],
    }
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        used_paths: set[str] = set()
        for client in clients:
            client_data = _client_data(client)
            conversations = (
                Conversation.objects.filter(client=client).select_related("open_channel").order_by("created_at", "id")
            )
            for conversation in conversations:
                client_data["conversations"].append(_conversation_data(conversation, zipped, used_paths))
                if conversation.lead_id is not None:
                    lead_ids.add(conversation.lead_id)
                done += 1
                _progress(export.pk, done, conversations_total)
            data["clients"].append(client_data)
        data["leads"] = [_lead_data(lead) for lead in Lead.objects.filter(pk__in=lead_ids).order_by("created_at", "id")]
        with zipped.open("data.json", "w") as target:
            target.write(json.dumps(data, ensure_ascii=False, indent=2).encode())


def _progress(export_id: int, done: int, total: int) -> None:
    """Per conversation; 100 is kept for the stored archive."""
    DataExport.objects.filter(pk=export_id).update(progress=min(99, done * 99 // max(total, 1)))


def _contact_data(contact: Contact) -> dict[str, Any]:
    return {
        "full_name": contact.full_name,
        "phone": contact.phone,
        "email": contact.email,
        "created_at": _iso(contact.created_at),
    }


def _client_data(client: Client) -> dict[str, Any]:
    consents = ConsentRecord.objects.filter(client=client).select_related("form_version__form").order_by("accepted_at")
    return {
        "id": client.pk,
        "source": client.connector.kind,
        "source_user_id": client.external_id,
        "name": client.name,
        "username": client.username,
        "phone": client.phone,
        "email": client.email,
        "unconfirmed_email": client.unverified_email,
        "avatar_url": client.avatar_url,
        "created_at": _iso(client.created_at),
        "consents": [
            {
                "form": record.form_version.form.name,
                "version": record.form_version.number,
                "text": record.form_version.text,
                "accepted_at": _iso(record.accepted_at),
                "source": record.source,
            }
            for record in consents
        ],
        "conversations": [],
    }


def _conversation_data(conversation: Conversation, zipped: zipfile.ZipFile, used_paths: set[str]) -> dict[str, Any]:
    open_channel = conversation.open_channel
    rating = ClientRating.objects.filter(conversation=conversation).first()
    messages = (
        Message.objects.filter(conversation=conversation)
        .select_related("author__operator_profile")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )
    return {
        "id": conversation.pk,
        "channel": channel_identity(open_channel)["name"],
        "started_at": _iso(conversation.created_at),
        "closed_at": _iso(conversation.closed_at),
        "rating": {"value": rating.value, "rated_at": _iso(rating.rated_at)} if rating is not None else None,
        "messages": [_message_data(message, open_channel, zipped, used_paths) for message in messages],
    }


def _message_data(message: Message, open_channel, zipped: zipfile.ZipFile, used_paths: set[str]) -> dict[str, Any]:
    # As the client's widget shows it: a message they deleted keeps its place, without its text and files.
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "author": message.author_kind,
        "author_name": author_name_for_client(message, open_channel),
        "text": "" if deleted else message.text,
        "created_at": _iso(message.created_at),
        "edited": message.edited_at is not None,
        "deleted": deleted,
        "files": [] if deleted else [_file_data(a, message, zipped, used_paths) for a in attachments_of(message)],
    }


def _file_data(attachment: Attachment, message: Message, zipped: zipfile.ZipFile, used_paths: set[str]) -> dict:
    path = None
    if attachment.state == Attachment.State.READY and attachment.file:
        path = _unique(f"files/{message.pk}-{safe_file_name(attachment.name)}", used_paths)
        # Streamed from storage into the archive in chunks: a large video never sits in memory.
        with attachment.file.open("rb") as source, zipped.open(path, "w", force_zip64=True) as target:
            shutil.copyfileobj(source, target, length=1024 * 1024)
    return {
        "name": attachment.name,
        "type": attachment.mime_type,
        "size": attachment.size,
        "kind": attachment.kind,
        "state": attachment.state,
        "path": path,
    }


def safe_file_name(name: str) -> str:
    """The sender's name fit for a path inside the archive: letters, digits, dot, dash and underscore only."""
    cleaned = re.sub(r"[^\w.\-]+", "_", name).strip("._") or "file"
    return cleaned[-120:]


def _unique(path: str, used: set[str]) -> str:
    candidate, number = path, 2
    while candidate in used:
        stem, dot, extension = path.rpartition(".")
        candidate = f"{stem}-{number}.{extension}" if dot and "/" not in extension else f"{path}-{number}"
        number += 1
    used.add(candidate)
    return candidate


def _lead_data(lead: Lead) -> dict[str, Any]:
    return {
        "id": lead.pk,
        "title": lead.title,
        "full_name": lead.full_name,
        "phone": lead.phone,
        "email": lead.email,
        "source": lead.source,
        "status": lead.status,
        "created_at": _iso(lead.created_at),
    }


# --- downloading and expiry -----------------------------------------------------------------------------------


def export_get(*, actor, public_id: uuid.UUID | str) -> DataExport:
    """An export by its public id, for an administrator; anybody else :class:`NotAllowed`, unknown :class:`NotFound`."""
    if not access.is_administrator(actor):
        raise NotAllowed(_("Only administrators export personal data."))
    export = DataExport.objects.filter(public_id=public_id).first()
    if export is None:
        raise NotFound(_("This export does not exist."))
    return export


def export_download(*, actor, public_id: uuid.UUID | str, now: datetime) -> DataExport:
    """An administrator takes the archive (audited): not ready yet :class:`InvalidState` (409), past its link's
    expiry :class:`ExportExpired` (410). The caller opens ``export.file`` from the default storage."""
    with transaction.atomic():
        export = export_get(actor=actor, public_id=public_id)
        if export.status == DataExport.Status.EXPIRED or (
            export.status == DataExport.Status.READY and export.expires_at is not None and export.expires_at <= now
        ):
            raise ExportExpired(_("This export has expired: ask for a new one."))
        if export.status != DataExport.Status.READY:
            raise InvalidState(_("This export is not ready yet."))
        client = (
            Client.objects.filter(id=export.client_id).select_related("connector").first()
            if export.client_id is not None
            else None
        )
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT_DOWNLOADED,
            now=now,
            open_channel_id=client.connector.open_channel_id if client is not None else None,
            client_id=export.client_id,
            contact_id=export.contact_id,
            detail={"export": str(export.public_id)},
        )
    return export


def export_sweep(*, now: datetime) -> int:
    """Beat: every ready export past its link's expiry loses its archive and says expired. Claims rows with
    ``skip_locked``, so two sweeps at once expire each export once; the files go after commit."""
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                DataExport.objects.select_for_update(skip_locked=True)
                .filter(status=DataExport.Status.READY, expires_at__lte=now)
                .order_by("pk")[:SWEEP_BATCH]
            )
            if not batch:
                return expired
            names = [export.file for export in batch if export.file]
            DataExport.objects.filter(pk__in=[export.pk for export in batch]).update(
                status=DataExport.Status.EXPIRED, file=""
            )
            transaction.on_commit(partial(_delete_stored, names))
        expired += len(batch)


def exports_of_erased_expire(*, client_ids: Iterable[int], contact_ids: Iterable[int]) -> int:
    """Called by the erasure, in its transaction: the subjects' ready archives hold what was just erased, so they
    are deleted (after commit) and their exports say expired; the rows stay, as the audit log refers to them."""
    stale = list(
        DataExport.objects.select_for_update()
        .filter(Q(client_id__in=list(client_ids)) | Q(contact_id__in=list(contact_ids)), status=DataExport.Status.READY)
        .order_by("pk")
    )
    if not stale:
        return 0
    names = [export.file for export in stale if export.file]
    DataExport.objects.filter(pk__in=[export.pk for export in stale]).update(status=DataExport.Status.EXPIRED, file="")
    transaction.on_commit(partial(_delete_stored, names))
    return len(stale)


def _delete_stored(names: Iterable[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # gone already, or the store is down: nothing serves it, the next sweep will not see it
            logger.warning("could not delete the expired export archive %s", name)

"""Errors a service raises when a request cannot be honoured; the message is shown to the user."""


class ServiceError(Exception):
    """Base class: views answer 4xx, consumers send an error frame."""

    status_code = 400

    def details(self) -> dict[str, object]:
        """Fields sent beside the message (REST body, socket error frame) so a client can act on the refusal."""
        return {}


class NotAllowed(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class InvalidState(ServiceError):
    status_code = 409


class NeedsConfirmation(InvalidState):
    """Refused unless the person confirms they want it anyway; the client asks them and repeats with ``confirm``."""

    def details(self) -> dict[str, object]:
        return {"needs_confirmation": True}

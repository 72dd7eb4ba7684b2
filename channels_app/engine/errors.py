"""Errors a service raises when a request cannot be honoured; the message is shown to the user."""


class ServiceError(Exception):
    """Base class: views answer 4xx, consumers send an error frame."""

    status_code = 400


class NotAllowed(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class InvalidState(ServiceError):
    status_code = 409

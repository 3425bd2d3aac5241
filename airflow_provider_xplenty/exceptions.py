"""Exceptions raised by the Xplenty provider."""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty._compat import AirflowException, AirflowFailException


class XplentyError(AirflowException):
    """Base class for every error raised by this provider."""


class XplentyConfigError(XplentyError, AirflowFailException, ValueError):
    """A connection or an argument is unusable; raised before any request is sent.

    The task fails without retrying: a retry would meet the same argument or connection.
    """


class XplentyApiError(XplentyError):
    """The Xplenty API answered with an error status, or could not be reached.

    :param status_code: HTTP status, or ``None`` when no response arrived.
    :param message: the API's ``message`` (or a description of the transport failure).
    :param method: HTTP method of the request.
    :param path: request path relative to the account's API root (never contains the key).
    """

    def __init__(self, status_code: int | None, message: str, method: str = "", path: str = "") -> None:
        self.status_code = status_code  # type: ignore[assignment]  # AirflowException types it HTTPStatus
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}".strip()
        code = f"HTTP {status_code}" if status_code is not None else "no response"
        super().__init__(f"Xplenty API error ({code}) on {where}: {message}" if where else message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.status_code, self.message, self.method, self.path))


class XplentyNotFoundError(XplentyApiError):
    """The API does not know the object (HTTP 404), or the account or host is wrong (404 on a collection)."""


class XplentyRejectedError(XplentyApiError):
    """The API refused the request (HTTP 422): invalid fields, or the object's state does not allow it.

    Examples: stopping a job that has ended, terminating a cluster that is still starting, running a
    job on a cluster that is going away.
    """


class XplentyJobFailedError(XplentyError):
    """A job ended ``failed`` or ``stopped``."""


class XplentyClusterFailedError(XplentyError):
    """A cluster reached a state from which it will not become available."""


class XplentyJobEndedError(XplentyJobFailedError, AirflowFailException):
    """A sensor saw its job end ``failed``/``stopped``: the task fails without retrying.

    Retrying a sensor cannot change how a job ended (unlike ``XplentyRunJobOperator``, whose retry
    starts a new job), so the retry would only delay the failure and its alert.
    """


class XplentyClusterEndedError(XplentyClusterFailedError, AirflowFailException):
    """A sensor saw its cluster reach a failed status: the task fails without retrying."""


class XplentyTimeoutError(XplentyError):
    """A wait ran past its deadline."""


class XplentyTriggerEventError(XplentyError):
    """A trigger event that does not have the expected shape reached ``execute_complete``."""


class XplentyUnknownOutcomeError(XplentyApiError):
    """A create request may have been carried out, and the hook could not find out (it gave up).

    Raised when a ``POST`` got no answer (lost response, read timeout, 5xx) and the look-ups that
    would find what it made kept failing until the retry budget ran out. The object may exist and
    cost money: record :attr:`identity` and look for it (or alert) before creating another.

    :param status_code: HTTP status of the last failure, or ``None`` when no response arrived.
    :param message: what happened.
    :param method: HTTP method of the create request.
    :param path: its path relative to the account's API root.
    :param resource: ``"job"``, ``"cluster"``, ``"schedule"``...
    :param identity: the fields the request sent that identify the object (never credentials).
    :param floor_id: the newest id that existed just before the request (the object, if made, has a
        larger id), or ``None`` when not read.
    """

    def __init__(
        self,
        status_code: int | None,
        message: str,
        method: str = "",
        path: str = "",
        resource: str = "",
        identity: dict[str, Any] | None = None,
        floor_id: int | None = None,
    ) -> None:
        self.resource = resource
        self.identity = dict(identity or {})
        self.floor_id = floor_id
        super().__init__(status_code, message, method, path)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (
            type(self),
            (
                self.status_code,
                self.message,
                self.method,
                self.path,
                self.resource,
                self.identity,
                self.floor_id,
            ),
        )


class XplentyAmbiguousMatchWarning(UserWarning):
    """After a lost create response, several objects matched what the call sent.

    The hook adopted the oldest one above the floor (the request that was lost was sent before any
    later identical one) and logged every candidate; the others may belong to another caller.
    """

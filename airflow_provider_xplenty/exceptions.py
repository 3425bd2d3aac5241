"""Exceptions raised by the Xplenty provider."""

from __future__ import annotations

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

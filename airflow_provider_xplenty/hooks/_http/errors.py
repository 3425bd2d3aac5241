"""Error mapping: an error response or a transport failure becomes a typed exception that says what to check.

404 raises :class:`~airflow_provider_xplenty.exceptions.XplentyNotFoundError` and 422
:class:`~airflow_provider_xplenty.exceptions.XplentyRejectedError`; both are
:class:`~airflow_provider_xplenty.exceptions.XplentyApiError` with ``status_code`` set
(docs/api-notes.md, Errors).
"""

from __future__ import annotations

import json

from airflow_provider_xplenty.exceptions import (
    XplentyApiError,
    XplentyNotFoundError,
    XplentyRejectedError,
    XplentyUnknownOutcomeError,
)
from airflow_provider_xplenty.hooks._http.config import ClientConfig
from airflow_provider_xplenty.hooks._http.wire import ApiRequest, RawResponse, TransportFailure

#: The exception class of each HTTP status that has its own (others raise :class:`XplentyApiError`).
ERROR_TYPES: dict[int, type[XplentyApiError]] = {404: XplentyNotFoundError, 422: XplentyRejectedError}


def _api_message(resp: RawResponse) -> str:
    """Read ``message``, then ``error_message``, then the raw text."""
    text = resp.text or ""
    try:
        data = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error_message"):
            if isinstance(data.get(key), str) and data[key]:
                msg: str = data[key]
                errors = data.get("errors")
                if errors:
                    msg += f" ({json.dumps(errors, sort_keys=True)})"
                return msg
    text = text.strip()
    return text[:500] if text else f"HTTP {resp.status}"


def _object_name(request: ApiRequest) -> str:
    if not request.ids:
        return request.endpoint.resource
    if request.endpoint.resource == "job output":
        parts = dict(request.ids)
        return f"output {parts.get('output_id')} of job {parts.get('job_id')}"
    return f"{request.endpoint.resource} {request.ids[0][1]}"


def api_error(cfg: ClientConfig, request: ApiRequest, resp: RawResponse) -> XplentyApiError:
    """Map an error response to an :class:`XplentyApiError` (of the status's subclass, if it has one)."""
    msg = _api_message(resp)
    status = resp.status
    if status == 401:
        text = f"Authentication failed: check the API key of connection `{cfg.conn_id}` (API said: {msg})"
    elif status == 403:
        text = (
            f"Permission denied for {request.method} {request.path} in account `{cfg.account_id}`: "
            f"check that the API key of connection `{cfg.conn_id}` belongs to a member allowed to do this "
            f"(API said: {msg})"
        )
    elif status == 404 and request.ids:
        text = (
            f"{_object_name(request).capitalize()} was not found in account `{cfg.account_id}` "
            f"(connection `{cfg.conn_id}`; API said: {msg})"
        )
    elif status == 404:
        text = (
            f"Not found: check the account id `{cfg.account_id}` and host {cfg.base_url} of connection "
            f"`{cfg.conn_id}` (API said: {msg})"
        )
    elif status == 422:
        text = f"The API rejected {request.method} {request.path}: {msg}"
    elif status == 429:
        text = f"Rate limit exceeded for account `{cfg.account_id}` (API said: {msg})"
    else:
        text = msg
    return ERROR_TYPES.get(status, XplentyApiError)(status, text, request.method, request.path)


def transport_error(request: ApiRequest, failure: TransportFailure) -> XplentyApiError:
    """Map a transport failure to an :class:`XplentyApiError` with ``status_code=None``."""
    return XplentyApiError(
        None, f"{failure.kind.replace('_', ' ')}: {failure.detail}", request.method, request.path
    )


def unknown_outcome_error(request: ApiRequest, error: XplentyApiError) -> XplentyUnknownOutcomeError:
    """Say that a non-idempotent request that got no answer may have been carried out (not retried)."""
    return XplentyUnknownOutcomeError(
        error.status_code,
        f"{error.message}; the request may or may not have been carried out (not retried because "
        f"{request.method} {request.endpoint.path} is not idempotent)",
        request.method,
        request.path,
        request.endpoint.resource,
        dict(request.body or {}),
    )


def unresolved_create_error(
    request: ApiRequest,
    error: XplentyApiError,
    resource: str,
    described: str,
    identity: dict[str, object],
    floor_id: int,
) -> XplentyUnknownOutcomeError:
    """Say that a create call gave up while the object it may have made could not be looked up."""
    return XplentyUnknownOutcomeError(
        error.status_code,
        f"{request.method} {request.path} may have created a {described} (id above {floor_id}) but the "
        f"hook could not find out: {error.message}. Look for it before creating another one",
        request.method,
        request.path,
        resource,
        identity,
        floor_id,
    )


def gave_up_error(error: XplentyApiError, attempts: int, elapsed: float) -> XplentyApiError:
    """Return ``error`` (same class) saying how many attempts were made and for how long."""
    return type(error)(
        error.status_code,
        f"{error.message} (gave up after {attempts} attempt(s) in {elapsed:.1f} s)",
        error.method,
        error.path,
    )

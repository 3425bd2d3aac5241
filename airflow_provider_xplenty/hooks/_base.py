"""What the sync and async Xplenty hooks share besides the plans: connection settings and retry policy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_xplenty._compat import BaseHook, mask_secret
from airflow_provider_xplenty.exceptions import XplentyConfigError
from airflow_provider_xplenty.hooks._http.config import (
    ClientConfig,
    config_from_connection,
    retry_settings_from_extra,
)
from airflow_provider_xplenty.hooks._http.plans import Plans
from airflow_provider_xplenty.hooks._http.retry import RetryPolicy
from airflow_provider_xplenty.hooks._http.wire import key_forms
from airflow_provider_xplenty.hooks._operations import without_none
from airflow_provider_xplenty.models import RateLimitStatus


class XplentyHookBase(BaseHook):
    """Everything both hooks share except the transport and the driver of plans."""

    conn_name_attr = "xplenty_conn_id"
    default_conn_name = "xplenty_default"
    conn_type = "xplenty"
    hook_name = "Xplenty"

    def __init__(
        self,
        xplenty_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        retry_limit: int | None = None,
        retry_max_seconds: float | None = None,
        retry_backoff: float | None = None,
        late_create_window: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(xplenty_conn_id, str) or not xplenty_conn_id:
            raise XplentyConfigError(f"xplenty_conn_id must be a non-empty string, got {xplenty_conn_id!r}")
        self.xplenty_conn_id = xplenty_conn_id
        self.timeout = timeout
        self._retry_args = without_none(
            {
                "retry_limit": retry_limit,
                "retry_max_seconds": retry_max_seconds,
                "retry_backoff": retry_backoff,
                "late_create_window": late_create_window,
            }
        )
        RetryPolicy(**self._policy_kwargs({}))  # validate arguments now
        self._config: ClientConfig | None = None
        self._policy: RetryPolicy | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(xplenty_conn_id={self.xplenty_conn_id!r})"

    def _policy_kwargs(self, from_extra: Mapping[str, float]) -> dict[str, Any]:
        merged: dict[str, Any] = {**from_extra, **self._retry_args}
        if "retry_limit" in merged:
            merged["retry_limit"] = int(merged["retry_limit"])
        return merged

    def _configure(self, conn: Any) -> ClientConfig:
        config = config_from_connection(conn, self.xplenty_conn_id, self.timeout)
        self._policy = RetryPolicy(**self._policy_kwargs(retry_settings_from_extra(conn)))
        # Airflow's connection lookup registers the password only as typed; the header carries it
        # base64-encoded, and HTTP debug logging or an echoed URL would show the other forms.
        for form in key_forms(config.api_key):
            mask_secret(form)
        self._config = config
        return config

    def _not_found(self, exc: Exception) -> XplentyConfigError:
        return XplentyConfigError(
            f"Connection `{self.xplenty_conn_id}` is not defined: create it (conn type `xplenty`) or set "
            f"AIRFLOW_CONN_{self.xplenty_conn_id.upper()}"
        )

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy in force (constructor arguments, else connection extras, else defaults)."""
        return self._policy or RetryPolicy(**self._policy_kwargs({}))

    def _plans(self, cfg: ClientConfig) -> Plans:
        """Return the control flow of calls for these settings (run by the hook's driver)."""
        return Plans(cfg, self.policy, self.log)


def connected_message(cfg: ClientConfig, status: RateLimitStatus) -> str:
    """Return what ``test_connection`` reports for a working connection."""
    return (
        f"Connected to Xplenty account `{cfg.account_id}` at {cfg.base_url}: "
        f"{status.remaining} of {status.limit} hourly API credits left"
    )


def connection_form_widgets() -> dict[str, Any]:
    """The connection form's extra fields on Airflow 2.11 to 3.1 (3.2+ reads ``conn-fields``).

    Built from the provider info's ``conn-fields``, so both forms show the same fields. The form
    libraries are imported here only: the UI calls this, tasks never do.
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import StringField

    # StringField: Airflow drops the whole hook from the form if a field is a FloatField.
    return {
        name: StringField(
            lazy_gettext(field["label"]), widget=BS3TextFieldWidget(), description=field["description"]
        )
        for name, field in _connection_type()["conn-fields"].items()
    }


def ui_field_behaviour() -> dict[str, Any]:
    """Labels, placeholders and hidden fields of the form on Airflow 2.11 to 3.1 (as ``conn-fields``)."""
    behaviour = _connection_type()["ui-field-behaviour"]
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def _connection_type() -> dict[str, Any]:
    from airflow_provider_xplenty.get_provider_info import get_provider_info

    connection_type: dict[str, Any] = get_provider_info()["connection-types"][0]
    return connection_type

"""Pydantic models of request bodies and query parameters (lax mode: "1", "t", "true" are booleans)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _index_dict_to_list(cls: Any, value: Any) -> Any:
    """Turn a form-style ``{"0": a, "1": b}`` object into ``[a, b]``."""
    if isinstance(value, dict) and value and all(str(k).isdigit() for k in value):
        return [value[k] for k in sorted(value, key=lambda k: int(k))]
    return value


def _expressions(value: Any) -> Any:
    """Store JSON numbers and booleans as ``str(value)``: ``10`` -> ``"10"``, ``true`` -> ``"True"``."""
    if isinstance(value, dict):
        return {k: str(v) if isinstance(v, (bool, int, float)) else v for k, v in value.items()}
    return value


#: Package/job variables: string names to string expressions (docs/api-notes.md, Job variables).
#: Numbers and booleans are stored as Python's ``str()`` of them; other non-string values are a 422.
Variables = Annotated[dict[str, str], BeforeValidator(_expressions)]


class BootstrapAction(_In):
    script_path: str
    args: list[str] | None = None


class ClusterCreate(_In):
    nodes: int | None = None
    type: str = "production"
    name: str | None = None
    description: str | None = None
    terminate_on_idle: bool = False
    time_to_idle: int = Field(default=3600, ge=0)
    region: str | None = None
    zone: str | None = None
    master_instance_type: str | None = None
    slave_instance_type: str | None = None
    master_spot_price: float | None = None
    slave_spot_price: float | None = None
    master_spot_percentage: float | None = Field(default=None, ge=0, le=1)
    slave_spot_percentage: float | None = Field(default=None, ge=0, le=1)
    allow_fallback: bool | None = None
    stack: str | None = None
    bootstrap_actions: list[BootstrapAction] | None = None

    _list = field_validator("bootstrap_actions", mode="before")(_index_dict_to_list)


class ClusterUpdate(_In):
    nodes: int | None = None
    name: str | None = None
    description: str | None = None
    terminate_on_idle: bool | None = None
    time_to_idle: int | None = Field(default=None, ge=0)


class JobCreate(_In):
    cluster_id: int
    package_id: int
    variables: Variables | None = None
    dynamic_variables: Variables | None = None


class TaskPackage(_In):
    package_id: int
    variables: Variables | None = None


class TaskIn(_In):
    nodes: int = Field(default=2, ge=1)
    terminate_on_idle: bool = True
    time_to_idle: int = Field(default=60, ge=0)
    packages: list[TaskPackage] = Field(min_length=1)

    _list = field_validator("packages", mode="before")(_index_dict_to_list)


class TaskUpdate(_In):
    nodes: int | None = Field(default=None, ge=1)
    terminate_on_idle: bool | None = None
    time_to_idle: int | None = Field(default=None, ge=0)
    packages: list[TaskPackage] | None = None

    _list = field_validator("packages", mode="before")(_index_dict_to_list)


IntervalUnit = Literal["minutes", "hours", "days", "weeks", "months"]
Strategy = Literal["none", "self", "any"]


class ScheduleCreate(_In):
    name: str = "Untitled"
    description: str | None = None
    status: Literal["enabled", "disabled"] = "disabled"
    start_at: datetime | None = None
    interval_amount: int = Field(default=1, ge=1)
    interval_unit: IntervalUnit = "hours"
    overlap: bool = True
    reuse_cluster_strategy: Strategy = "any"
    auto_retry: bool = False
    auto_retry_attempts: int = Field(default=3, ge=1, le=5)
    task: TaskIn


class ScheduleUpdate(_In):
    name: str | None = None
    description: str | None = None
    status: Literal["enabled", "disabled"] | None = None
    start_at: datetime | None = None
    interval_amount: int | None = Field(default=None, ge=1)
    interval_unit: IntervalUnit | None = None
    overlap: bool | None = None
    reuse_cluster_strategy: Strategy | None = None
    auto_retry: bool | None = None
    auto_retry_attempts: int | None = Field(default=None, ge=1, le=5)
    task: TaskUpdate | None = None


class PackageCreate(_In):
    name: str = "Untitled package"
    description: str | None = None
    variables: Variables | None = None
    data_flow_json: str | None = None
    flow_type: Literal["dataflow", "workflow"] = "dataflow"
    flow_version: str = "2.0.0"
    source_package_id: int | None = None


class PackageUpdate(_In):
    name: str | None = None
    description: str | None = None
    variables: Variables | None = None
    data_flow_json: str | None = None
    flow_version: str | None = None


HookType = Literal["web", "email", "slack", "hipchat", "pagerduty"]


class HookCreate(_In):
    type: HookType
    events: list[str] = Field(min_length=1)
    settings: dict[str, Any]
    name: str | None = None
    active: bool = True

    _list = field_validator("events", mode="before")(_index_dict_to_list)


class HookUpdate(_In):
    name: str | None = None
    events: list[str] | None = None
    active: bool | None = None
    settings: dict[str, Any] | None = None

    _list = field_validator("events", mode="before")(_index_dict_to_list)


class ListQuery(_In):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=20, ge=0)
    status: str | None = None
    sort: str | None = None
    direction: Literal["asc", "desc"] | None = None
    since: datetime | None = None
    package_id: int | None = None
    include: str | None = None
    flow_type: Literal["dataflow", "workflow", "all"] | None = None
    type: str | None = None
    q: str | None = None


# ---------------------------------------------------------------- control routes


class SeedAccount(_In):
    account_id: str = Field(min_length=1)
    api_key: str | None = None
    max_nodes: int | None = Field(default=None, ge=1)


class SeedPackage(_In):
    account_id: str
    id: int | None = None
    name: str
    description: str | None = None
    variables: Variables = Field(default_factory=dict)
    flow_type: Literal["dataflow", "workflow"] = "dataflow"
    status: Literal["active", "archived"] = "active"
    outputs: list[dict[str, Any]] | None = None


class SeedIn(_In):
    accounts: list[SeedAccount] = Field(default_factory=list)
    packages: list[SeedPackage] = Field(default_factory=list)


class ResetIn(_In):
    speed: float = Field(default=1.0, ge=0)


class ClockIn(_In):
    speed: float | None = Field(default=None, ge=0)
    durations: dict[str, float] | None = None
    max_running_jobs: int | None = Field(default=None, ge=0)
    accept_status: Literal[404, 406] | None = None

    @field_validator("durations")
    @classmethod
    def _non_negative(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value and any(v < 0 for v in value.values()):
            raise ValueError("durations must be >= 0")
        return value


class AdvanceIn(_In):
    seconds: float = Field(ge=0)


class FaultIn(_In):
    kind: Literal[
        "job_failure",
        "cluster_failure",
        "rate_limit",
        "server_error",
        "latency",
        "lost_response",
        "slow_response",
    ]
    job_id: int | None = None
    package_id: int | None = None
    cluster_id: int | None = None
    message: str | None = None
    count: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, ge=0)
    retry_after: int | None = Field(default=None, ge=0)
    status: Literal[500, 502, 503, 504] = 500
    probability: float | None = Field(default=None, ge=0, le=1)
    path_contains: str | None = None
    path: str | None = None  # the same substring match as path_contains
    method: str | None = None
    mode: Literal["drop", "504"] = "drop"
    delay: float | None = Field(default=None, ge=0)
    act_after: float | None = Field(default=None, ge=0)
    never: bool = False


class RateLimitIn(_In):
    limit: int | None = Field(default=None, ge=0)
    remaining: int | None = Field(default=None, ge=0)
    api_key: str | None = None

"""Typed views of the Xplenty API objects (clusters, jobs, outputs, packages, schedules).

Import them from :mod:`airflow_provider_xplenty.models`, which also holds the status enums; this module
is loaded on first use only, so that parsing a DAG does not build pydantic models it never needs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airflow_provider_xplenty.models import ClusterStatus, JobStatus


class _ApiModel(BaseModel):
    """Base for API objects: unknown fields are kept, absent ones default to ``None``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (safe to push to XCom)."""
        return self.model_dump(mode="json", exclude_none=False)


class Creator(_ApiModel):
    """Who created a cluster or job (a user or a schedule)."""

    type: str | None = None
    id: int | str | None = None
    display_name: str | None = None
    url: str | None = None
    html_url: str | None = None


class Cluster(_ApiModel):
    """A cluster (its fields: docs/api-notes.md, "Cluster status machine")."""

    id: int
    name: str | None = None
    description: str | None = None
    status: str
    owner_id: int | None = None
    plan_id: int | str | None = None
    nodes: int | None = None
    type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    available_since: datetime | None = None
    launched_at: datetime | None = None
    terminated_at: datetime | None = None
    idle_since: datetime | None = None
    running_jobs_count: int | None = None
    queued_jobs_count: int | None = None
    terminate_on_idle: bool | None = None
    time_to_idle: int | None = None
    terminated_on_idle: bool | None = None
    region: str | None = None
    zone: str | None = None
    stack: str | None = None
    url: str | None = None
    html_url: str | None = None
    creator: Creator | None = None

    @property
    def is_ready(self) -> bool:
        """Whether the cluster can run jobs now."""
        return self.status in ClusterStatus.ready_states()

    @property
    def is_terminated(self) -> bool:
        """Whether the cluster is gone."""
        return self.status in ClusterStatus.terminal_states()


class JobOutput(_ApiModel):
    """One output target of a job (docs/api-notes.md, "Outputs and previews")."""

    id: int
    name: str | None = None
    records_count: int | None = None
    progress: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    preview_url: str | None = None
    preview_type: str | None = None
    url: str | None = None
    component: dict[str, Any] | None = None


class Job(_ApiModel):
    """A job: one execution of a package on a cluster (docs/api-notes.md, "Job status machine")."""

    id: int
    status: str
    variables: dict[str, Any] = Field(default_factory=dict)
    dynamic_variables: dict[str, Any] | None = None
    owner_id: int | None = None
    progress: float = 0.0
    outputs_count: int | None = None
    outputs: list[JobOutput] = Field(default_factory=list)
    started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    failed_at: datetime | None = None
    completed_at: datetime | None = None
    cluster_id: int | None = None
    package_id: int | None = None
    errors: str | None = None
    runtime_in_seconds: int | None = None
    url: str | None = None
    html_url: str | None = None
    log_url: str | None = None
    creator: Creator | None = None
    attempts: int | None = None
    cluster: Cluster | None = None
    package: Package | None = None

    @field_validator("variables", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("outputs", mode="before")
    @classmethod
    def _none_is_no_outputs(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("progress", mode="before")
    @classmethod
    def _none_is_zero(cls, value: Any) -> Any:
        return 0.0 if value is None else value

    @property
    def is_terminal(self) -> bool:
        """Whether the job has ended (completed, failed or stopped)."""
        return self.status in JobStatus.terminal_states()

    @property
    def is_successful(self) -> bool:
        """Whether the job completed."""
        return self.status in JobStatus.success_states()

    @property
    def is_failed(self) -> bool:
        """Whether the job ended without completing (failed or stopped)."""
        return self.status in JobStatus.failed_states()


class Package(_ApiModel):
    """A package (docs/api-notes.md, "Packages")."""

    id: int
    name: str | None = None
    description: str | None = None
    variables: dict[str, Any] | None = None
    owner_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str | None = None
    html_url: str | None = None
    status: str | None = None
    flow_type: str | None = None


class ScheduleTaskPackage(_ApiModel):
    """One package a schedule runs, with its variables."""

    package_id: int | str
    variables: dict[str, Any] | None = None


class ScheduleTask(_ApiModel):
    """What a schedule runs and on what cluster size."""

    nodes: int | None = None
    terminate_on_idle: bool | None = None
    time_to_idle: int | None = None
    packages: list[ScheduleTaskPackage] = Field(default_factory=list)

    @field_validator("packages", mode="before")
    @classmethod
    def _packages_as_list(cls, value: Any) -> Any:
        # Some clients send {"0": {...}, "1": {...}} (form-style indices).
        if isinstance(value, dict):
            return [value[k] for k in sorted(value, key=lambda k: int(k))]
        return [] if value is None else value


class Schedule(_ApiModel):
    """A schedule (docs/api-notes.md, "Schedules")."""

    id: int
    name: str | None = None
    description: str | None = None
    owner_id: int | None = None
    status: str | None = None
    start_at: datetime | None = None
    next_run_at: datetime | None = None
    interval_amount: int | None = None
    interval_unit: str | None = None
    last_run_at: datetime | None = None
    last_run_status: str | None = None
    execution_count: int | None = None
    overlap: bool | None = None
    reuse_cluster_strategy: str | None = None
    auto_retry: bool | None = None
    auto_retry_attempts: int | None = None
    task: ScheduleTask | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    url: str | None = None
    html_url: str | None = None


class RateLimitStatus(_ApiModel):
    """Credits allocated and left in the current hourly window."""

    limit: int
    remaining: int


Job.model_rebuild()

"""Records of the emulator's state (accounts, clusters, jobs, ...), its error type and constants."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

CLUSTER_ERROR_TEXT = "Specified cluster is not available and is in erroneous state."
DEFAULT_JOB_FAILURE_TEXT = "Package failed to execute."
HOOK_EVENTS: dict[str, str] = {
    "job": "All Job Events",
    "job.submitted": "Job Submitted",
    "job.started": "Job Started",
    "job.stopped": "Job Stopped",
    "job.completed": "Job Completed",
    "job.failed": "Job Failed",
    "cluster": "All Cluster Events",
    "cluster.requested": "Cluster Requested",
    "cluster.available": "Cluster Available",
    "cluster.terminated": "Cluster Terminated",
    "cluster.idled": "Cluster Idled",
    "cluster.error": "Cluster Error",
}
HOOK_TYPES = ("web", "email", "slack", "hipchat", "pagerduty")
ACTIVE_JOB = frozenset({"idle", "pending", "queued", "running", "pending_stoppage", "stopping"})
STOPPABLE_JOB = frozenset({"idle", "pending", "queued", "running"})
READY_CLUSTER = frozenset({"available", "idle"})
GONE_CLUSTER = frozenset({"pending_terminate", "terminating", "terminated"})
COUNTED_JOB = frozenset({"running", "queued"})  # job states counted on the cluster object
PROGRESS_STEPS = 10  # a running job's progress (and updated_at) moves every tenth of its run


class ApiError(Exception):
    """An error answered with the API's error shape ``{"message": ...}``."""

    def __init__(self, status: int, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors


def not_found(kind: str) -> ApiError:
    """Return the 404 error for an unknown resource."""
    return ApiError(404, f"{kind} not found.")


@dataclass
class Account:
    """An account (slug), its API keys, its single user and its plan limits."""

    slug: str
    id: int
    api_keys: set[str]
    max_nodes: int = 10
    region: str = "amazon-web-services::us-east-1"
    user_id: int = 1
    user_name: str = "Demo User"


@dataclass
class ClusterRec:
    """A cluster and its scheduling state."""

    id: int
    account: str
    name: str
    description: str | None
    type: str
    nodes: int
    terminate_on_idle: bool
    time_to_idle: int
    region: str
    zone: str | None
    stack: str
    extra: dict[str, Any]
    creator: dict[str, Any]
    owner_id: int
    created_at: float
    updated_at: float
    status: str = "pending"
    available_since: float | None = None
    launched_at: float | None = None
    terminated_at: float | None = None
    idle_since: float | None = None
    terminated_on_idle: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    next_at: float | None = None
    next_action: str = ""
    creating_ends: float = 0.0
    fail_message: str | None = None
    active_jobs: set[int] = field(default_factory=set)
    last_activity: float = 0.0
    watchers: set[int] = field(default_factory=set)


@dataclass
class JobRec:
    """A job and its scheduling state."""

    id: int
    account: str
    cluster_id: int
    package_id: int
    variables: dict[str, Any]
    dynamic_variables: dict[str, Any] | None
    creator: dict[str, Any]
    owner_id: int
    created_at: float
    updated_at: float
    status: str = "idle"
    started_at: float | None = None
    failed_at: float | None = None
    completed_at: float | None = None
    errors: str | None = None
    run_duration: float = 30.0
    frozen_progress: float | None = None
    ended_at: float | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    next_at: float | None = None
    next_action: str = ""
    fail_message: str | None = None
    attempts: int = 0
    master_auto_retry_attempts: int | None = None
    watchers: set[int] = field(default_factory=set)


@dataclass
class PackageRec:
    """A package."""

    id: int
    account: str
    name: str
    description: str | None
    variables: dict[str, Any]
    flow_type: str
    status: str
    owner_id: int
    created_at: float
    updated_at: float
    outputs: list[dict[str, Any]]
    data_flow_json: str = "{}"
    flow_version: str = "2.0.0"
    version: int = 1


@dataclass
class ScheduleRec:
    """A schedule."""

    id: int
    account: str
    fields: dict[str, Any]
    owner_id: int
    created_at: float
    updated_at: float
    execution_count: int = 0
    last_run_at: float | None = None
    last_run_status: str | None = None
    watchers: set[int] = field(default_factory=set)


@dataclass
class HookRec:
    """A service hook."""

    id: int
    account: str
    name: str
    type: str
    active: bool
    settings: dict[str, Any]
    events: list[str]
    salt: str
    created_at: float
    updated_at: float
    event_status: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Delivery:
    """A web hook delivery waiting to be sent."""

    hook_id: int
    event: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


def signature(resource_id: int, event: str, resource_url: str, salt: str) -> str:
    """Return ``X-Hook-Signature``: SHA-1 hex of id + event + url + salt."""
    return hashlib.sha1(f"{resource_id}{event}{resource_url}{salt}".encode()).hexdigest()


#: One Pig string literal (grammar token ``QUOTEDSTRING``), with its escapes as the unescaper knows them.
_STRING_LITERAL = re.compile(r"'((?:[^'\\\n\r]|\\u[0-9A-Fa-f]{4}|\\[ntbrf\\'])*)'")
_UNESCAPES = {"n": "\n", "t": "\t", "b": "\b", "r": "\r", "f": "\f", "\\": "\\", "'": "'"}


def strip_expression(value: Any) -> str:
    """Return a variable expression as plain text (``"'/input'"`` -> ``/input``).

    A value that is one string literal is unescaped as Xplenty reads it (``"'O\\'Brien'"`` ->
    ``O'Brien``; escapes ``\\n \\t \\b \\r \\f \\\\ \\'`` and ``\\u`` + 4 hex digits); any other
    expression only loses matching outer quotes.
    """
    text = str(value)
    literal = _STRING_LITERAL.fullmatch(text)
    if literal is not None:
        return re.sub(
            r"\\(u[0-9A-Fa-f]{4}|.)",
            lambda m: chr(int(m[1][1:], 16)) if len(m[1]) == 5 else _UNESCAPES[m[1]],
            literal[1],
        )
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def new_salt() -> str:
    """Return a fresh 64-hex-character hook salt."""
    return secrets.token_hex(32)

"""In-memory state of the emulator: accounts, objects, state machines on a clock, rate limits, log.

Transitions are computed lazily: every read or write first calls :meth:`Store.tick`, which applies
all transitions due at the current emulated time, in time order, each stamped with the emulated time
at which it was due (so history timestamps do not depend on when somebody looked). Only active
objects (clusters not terminated, jobs not finished) are visited.

A running job's progress moves in steps of 1/:data:`PROGRESS_STEPS` of its run, and its ``updated_at``
is the emulated time of the latest step (spec 12.2: ``running -> running`` changes ``progress``,
``runtime_in_seconds`` and ``updated_at``). Both are pure functions of the clock
(:meth:`Store.job_updated_at`), so they need no extra transition and stay deterministic.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_xplenty.emulator.clock import DEFAULT_DURATIONS, Clock, iso, parse_iso
from airflow_provider_xplenty.emulator.faults import FaultRegistry
from airflow_provider_xplenty.emulator.seed import seed_accounts, seed_packages

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
    """Return ``X-Hook-Signature``: SHA-1 hex of id + event + url + salt (spec section 7.3)."""
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


class Store:
    """All emulator state behind one re-entrant lock."""

    def __init__(self, account_id: str = "demo", api_key: str = "demo-api-key", speed: float = 1.0) -> None:
        self.lock = threading.RLock()
        self.default_account = account_id
        self.default_key = api_key
        self.faults = FaultRegistry(self.lock)  # one lock for all state
        self.base_url = "http://127.0.0.1:8999"
        self.deliveries: list[Delivery] = []
        self.reset(speed)

    # ------------------------------------------------------------------ setup
    def reset(self, speed: float = 1.0) -> None:
        """Return to the seed state with a fresh clock; clear faults, log and rate limits."""
        with self.lock:
            self.clock = Clock(speed)
            self.durations: dict[str, float] = dict(DEFAULT_DURATIONS)
            self.max_running_jobs: int | None = None
            self.accept_status = 404
            self.accounts: dict[str, Account] = {}
            self.keys: dict[str, str] = {}
            self.clusters: dict[int, ClusterRec] = {}
            self.jobs: dict[int, JobRec] = {}
            self.packages: dict[int, PackageRec] = {}
            self.schedules: dict[int, ScheduleRec] = {}
            self.hooks: dict[int, HookRec] = {}
            self.active_clusters: dict[int, ClusterRec] = {}
            self.active_jobs: dict[int, JobRec] = {}
            self.next_ids = {"cluster": 1001, "job": 5001, "output": 9001, "schedule": 301, "hook": 401}
            self.job_failures: list[dict[str, Any]] = []
            self.cluster_failures: list[str] = []
            self.rate_default_limit = 5000
            self.rate: dict[str, dict[str, float]] = {}
            self.request_log: list[dict[str, Any]] = []
            self.totals: dict[str, Any] = {"count": 0, "credits": 0, "by_status": {}}
            self.fault_counter = 0
            self.deliveries = []
            self.faults.clear()
            self.seed(
                seed_accounts(self.default_account, self.default_key), seed_packages(self.default_account)
            )

    def seed(self, accounts: Iterable[dict[str, Any]], packages: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Add (or update) accounts and packages."""
        with self.lock:
            now = self.clock.now()
            for spec in accounts:
                slug = str(spec["account_id"])
                account = self.accounts.get(slug)
                if account is None:
                    number = len(self.accounts) + 1
                    account = Account(
                        slug=slug,
                        id=number,
                        api_keys=set(),
                        user_id=number,
                        user_name=f"{slug.capitalize()} User",
                    )
                    self.accounts[slug] = account
                if spec.get("max_nodes") is not None:
                    account.max_nodes = int(spec["max_nodes"])
                if spec.get("api_key"):
                    account.api_keys.add(str(spec["api_key"]))
                    self.keys[str(spec["api_key"])] = slug
            created = []
            for spec in packages:
                slug = str(spec["account_id"])
                if slug not in self.accounts:
                    raise ApiError(422, f"Unknown account {slug!r} for package.")
                pid = int(spec["id"]) if spec.get("id") is not None else self._next_package_id()
                outputs = spec.get("outputs") or [
                    {
                        "name": f"{spec['name']}_output",
                        "component": {
                            "name": "destination1",
                            "type": "cloud_storage_destination_component",
                            "fields": ["id", "name", "amount"],
                        },
                    }
                ]
                self.packages[pid] = PackageRec(
                    id=pid,
                    account=slug,
                    name=str(spec["name"]),
                    description=spec.get("description"),
                    variables=dict(spec.get("variables") or {}),
                    flow_type=str(spec.get("flow_type") or "dataflow"),
                    status=str(spec.get("status") or "active"),
                    owner_id=self.accounts[slug].user_id,
                    created_at=now,
                    updated_at=now,
                    outputs=list(outputs),
                )
                created.append(pid)
            return {"accounts": sorted(self.accounts), "packages": created}

    def _next_package_id(self) -> int:
        return max([300, *self.packages]) + 1

    def _take_id(self, kind: str) -> int:
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """Return the emulated time."""
        return self.clock.now()

    def set_clock(
        self,
        speed: float | None = None,
        durations: dict[str, float] | None = None,
        max_running_jobs: int | None = None,
        accept_status: int | None = None,
    ) -> dict[str, Any]:
        """Change speed, durations, per-cluster concurrency or the status for a missing Accept type."""
        with self.lock:
            self.tick()
            if speed is not None:
                self.clock.set_speed(speed)
            if durations:
                unknown = sorted(set(durations) - set(DEFAULT_DURATIONS))
                if unknown:
                    raise ApiError(422, f"Unknown duration(s): {', '.join(unknown)}.")
                self.durations.update({k: float(v) for k, v in durations.items()})
            if max_running_jobs is not None:
                self.max_running_jobs = max_running_jobs if max_running_jobs > 0 else None
            if accept_status is not None:
                self.accept_status = accept_status
            return self.clock_info()

    def clock_info(self) -> dict[str, Any]:
        """Describe the clock."""
        with self.lock:
            return {
                "now": iso(self.now()),
                "epoch": self.now(),
                "speed": self.clock.speed,
                "durations": dict(self.durations),
                "max_running_jobs": self.max_running_jobs,
                "accept_status": self.accept_status,
            }

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the clock forward and apply every transition that became due."""
        if seconds < 0:
            raise ApiError(422, "seconds must be >= 0.")
        with self.lock:
            self.tick()
            self.clock.advance(seconds)
            self.tick()
            return {"now": iso(self.now()), "epoch": self.now()}

    # ------------------------------------------------------------------ state machines
    def tick(self) -> None:
        """Apply every transition due at the current emulated time, earliest first."""
        with self.lock:
            now = self.clock.now()
            while True:
                best_at: float | None = None
                best: ClusterRec | JobRec | None = None
                for cluster in self.active_clusters.values():
                    due = cluster.next_at
                    if due is not None and due <= now and (best_at is None or due < best_at):
                        best_at, best = due, cluster
                for job in self.active_jobs.values():
                    due = job.next_at
                    if due is not None and due <= now and (best_at is None or due < best_at):
                        best_at, best = due, job
                if best is None or best_at is None:
                    return
                if isinstance(best, ClusterRec):
                    self._cluster_step(best, best_at)
                else:
                    self._job_step(best, best_at)

    def _set_cluster_status(self, cluster: ClusterRec, status: str, at: float) -> None:
        cluster.status = status
        cluster.updated_at = at
        cluster.history.append({"status": status, "at": iso(at), "epoch": at})

    def _set_job_status(self, job: JobRec, status: str, at: float) -> None:
        if job.status in COUNTED_JOB or status in COUNTED_JOB:
            # the cluster's running_jobs_count / queued_jobs_count change with this transition
            cluster = self.clusters.get(job.cluster_id)
            if cluster is not None:
                cluster.updated_at = max(cluster.updated_at, at)
        job.status = status
        job.updated_at = at
        job.history.append({"status": status, "at": iso(at), "epoch": at})

    def _schedule_idle(self, cluster: ClusterRec) -> None:
        if cluster.status == "available" and not cluster.active_jobs:
            cluster.next_at = cluster.last_activity + cluster.time_to_idle
            cluster.next_action = "idle"
        elif cluster.status in ("available", "idle"):
            cluster.next_at = None

    def _cluster_step(self, cluster: ClusterRec, at: float) -> None:
        action = cluster.next_action
        cluster.next_at = None
        if action == "creating":
            self._set_cluster_status(cluster, "creating", at)
            half = self.durations["cluster_creating"] / 2
            cluster.creating_ends = at + self.durations["cluster_creating"]
            cluster.next_at, cluster.next_action = at + half, "launch"
        elif action == "launch":
            cluster.launched_at = at
            cluster.updated_at = at
            if cluster.fail_message is not None:
                cluster.next_at, cluster.next_action = cluster.creating_ends, "error"
            else:
                cluster.next_at, cluster.next_action = cluster.creating_ends, "available"
        elif action == "available":
            self._set_cluster_status(cluster, "available", at)
            cluster.available_since = at
            cluster.last_activity = at
            self._emit("cluster.available", cluster=cluster)
            for job_id in sorted(cluster.active_jobs):
                job = self.jobs[job_id]
                if job.status == "idle" and job.next_at is None:
                    job.next_at = max(job.created_at + self.durations["job_idle"], at)
                    job.next_action = "pending"
            self._schedule_idle(cluster)
        elif action == "error":
            self._cluster_error(cluster, at)
        elif action == "idle":
            self._set_cluster_status(cluster, "idle", at)
            cluster.idle_since = at
            self._emit("cluster.idled", cluster=cluster)
            if cluster.terminate_on_idle:
                cluster.terminated_on_idle = True
                self._set_cluster_status(cluster, "pending_terminate", at)
                cluster.next_at = at + self.durations["cluster_terminating"] / 2
                cluster.next_action = "terminating"
        elif action == "terminating":
            self._set_cluster_status(cluster, "terminating", at)
            for job_id in sorted(cluster.active_jobs):
                self._job_stopped(self.jobs[job_id], at, "Cluster was terminated.")
            cluster.next_at = at + self.durations["cluster_terminating"] / 2
            cluster.next_action = "terminated"
        elif action == "terminated":
            self._set_cluster_status(cluster, "terminated", at)
            cluster.terminated_at = at
            self.active_clusters.pop(cluster.id, None)
            self._emit("cluster.terminated", cluster=cluster)

    def _cluster_error(self, cluster: ClusterRec, at: float) -> None:
        self._set_cluster_status(cluster, "error", at)
        cluster.next_at = None
        self._emit("cluster.error", cluster=cluster)
        for job_id in sorted(cluster.active_jobs):
            job = self.jobs[job_id]
            self._job_failed(job, at, CLUSTER_ERROR_TEXT)

    def _job_step(self, job: JobRec, at: float) -> None:
        action = job.next_action
        job.next_at = None
        cluster = self.clusters[job.cluster_id]
        if action == "pending":
            self._set_job_status(job, "pending", at)
            job.next_at, job.next_action = at + self.durations["job_pending"], "run"
        elif action == "run":
            running = sum(1 for jid in cluster.active_jobs if self.jobs[jid].status == "running")
            if self.max_running_jobs is not None and running >= self.max_running_jobs:
                self._set_job_status(job, "queued", at)
            else:
                self._start_job(job, at)
        elif action == "complete":
            self._set_job_status(job, "completed", at)
            job.completed_at = at
            job.ended_at = at
            job.frozen_progress = 1.0
            job.outputs = self._make_outputs(job, at)
            self._job_left(job, at)
            self._emit("job.completed", job=job, at=at)
        elif action == "fail":
            self._job_failed(job, at, job.fail_message or DEFAULT_JOB_FAILURE_TEXT)
        elif action == "cluster_error":
            self._job_failed(job, at, CLUSTER_ERROR_TEXT)
        elif action == "stopping":
            self._set_job_status(job, "stopping", at)
            job.next_at, job.next_action = at + self.durations["job_stopping"] / 2, "stopped"
        elif action == "stopped":
            self._job_stopped(job, at, None)

    def _start_job(self, job: JobRec, at: float) -> None:
        self._set_job_status(job, "running", at)
        job.started_at = at
        job.run_duration = max(self.durations["job_running"], 0.0)
        if job.fail_message is not None:
            job.next_at, job.next_action = at + job.run_duration / 2, "fail"
        else:
            job.next_at, job.next_action = at + job.run_duration, "complete"
        self._emit("job.started", job=job, at=at)

    def _progress_step(self, job: JobRec, at: float) -> int:
        """Return how many progress steps a running job has completed at ``at`` (0 .. STEPS-1)."""
        if job.status != "running" or job.started_at is None:
            return 0
        if job.run_duration <= 0:
            return PROGRESS_STEPS - 1
        done = int((at - job.started_at) * PROGRESS_STEPS / job.run_duration + 1e-9)
        return min(PROGRESS_STEPS - 1, max(0, done))

    def _progress(self, job: JobRec, at: float) -> float:
        if job.frozen_progress is not None:
            return job.frozen_progress
        return self._progress_step(job, at) / PROGRESS_STEPS

    def job_updated_at(self, job: JobRec, at: float | None = None) -> float:
        """Return ``updated_at`` as the API shows it at ``at`` (default: now).

        The stored ``JobRec.updated_at`` is the time of the last status transition; a running job's
        ``updated_at`` also advances with each progress step, to the emulated time of that step.
        """
        if job.status != "running" or job.started_at is None or job.frozen_progress is not None:
            return job.updated_at
        step = self._progress_step(job, self.now() if at is None else at)
        if step == 0:
            return job.updated_at
        return max(job.updated_at, job.started_at + step * job.run_duration / PROGRESS_STEPS)

    def _job_failed(self, job: JobRec, at: float, message: str) -> None:
        job.frozen_progress = min(self._progress(job, at), 0.99) if job.status == "running" else 0.0
        self._set_job_status(job, "failed", at)
        job.errors = message
        job.failed_at = at
        job.completed_at = at
        job.ended_at = at
        job.next_at = None
        self._job_left(job, at)
        self._emit("job.failed", job=job, at=at)

    def _job_stopped(self, job: JobRec, at: float, message: str | None) -> None:
        if job.frozen_progress is None:
            job.frozen_progress = self._progress(job, at)
        self._set_job_status(job, "stopped", at)
        job.completed_at = at
        if job.ended_at is None:
            job.ended_at = at
        if message:
            job.errors = message
        job.next_at = None
        self._job_left(job, at)
        self._emit("job.stopped", job=job, at=at)

    def _job_left(self, job: JobRec, at: float) -> None:
        """Bookkeeping when a job ends: free its slot, promote a queued job, maybe start idling."""
        self.active_jobs.pop(job.id, None)
        cluster = self.clusters[job.cluster_id]
        cluster.active_jobs.discard(job.id)
        cluster.last_activity = at
        self._promote_queued(cluster, at)
        self._schedule_idle(cluster)

    def _promote_queued(self, cluster: ClusterRec, at: float) -> None:
        """Start queued jobs (oldest first) while the cluster has free slots."""
        for jid in sorted(cluster.active_jobs):
            other = self.jobs[jid]
            if other.status == "queued":
                running = sum(1 for k in cluster.active_jobs if self.jobs[k].status == "running")
                if self.max_running_jobs is None or running < self.max_running_jobs:
                    self._start_job(other, at)

    def _make_outputs(self, job: JobRec, at: float) -> list[dict[str, Any]]:
        package = self.packages[job.package_id]
        outputs = []
        for spec in package.outputs:
            digest = hashlib.sha256(f"{job.package_id}|{self._var_key(job)}|{spec['name']}".encode()).digest()
            outputs.append(
                {
                    "id": self._take_id("output"),
                    "name": spec["name"],
                    "records_count": 100 + int.from_bytes(digest[:4], "big") % 9900,
                    "component": dict(spec["component"]),
                    "created_at": at,
                    "seed": digest.hex(),
                }
            )
        return outputs

    def _var_key(self, job: JobRec) -> str:
        merged = self.merged_variables(job)
        return "|".join(f"{k}={merged[k]}" for k in sorted(merged))

    def merged_variables(self, job: JobRec) -> dict[str, Any]:
        """Return the variables used by the run: package defaults overridden by the job's own."""
        package = self.packages[job.package_id]
        merged: dict[str, Any] = dict(package.variables)
        merged.update(job.variables)
        if job.dynamic_variables:
            merged.update(job.dynamic_variables)
        return merged

    # ------------------------------------------------------------------ hooks / events
    def _emit(
        self,
        event: str,
        *,
        cluster: ClusterRec | None = None,
        job: JobRec | None = None,
        at: float | None = None,
    ) -> None:
        """Queue deliveries of ``event`` to subscribed web hooks; a job is rendered as it was ``at``."""
        account = cluster.account if cluster is not None else job.account if job is not None else ""
        group = event.split(".", 1)[0]
        for hook in self.hooks.values():
            if hook.account != account or not hook.active or hook.type != "web":
                continue
            if event not in hook.events and group not in hook.events:
                continue
            url = str(hook.settings.get("url") or "")
            if not url:
                continue
            if cluster is not None:
                obj, rid, rurl = self.render_cluster(cluster), cluster.id, self._cluster_url(cluster)
            else:
                assert job is not None
                obj, rid, rurl = self.render_job(job, now=at), job.id, self._job_url(job)
            self.deliveries.append(self._delivery(hook, event, rid, rurl, obj))

    def _delivery(self, hook: HookRec, event: str, rid: int, rurl: str, obj: dict[str, Any]) -> Delivery:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Xplenty-Emulator-Hooks/1.0",
            "X-Hook-Signature": signature(rid, event, rurl, hook.salt),
            "X-Hook-Event": event,
        }
        if hook.settings.get("basic_auth") and hook.settings.get("basic_auth_data"):
            headers["Authorization"] = "Basic " + str(hook.settings["basic_auth_data"])
        body = {"id": rid, "event": event, "url": rurl, "hook_id": hook.id, "data": obj}
        return Delivery(hook.id, event, str(hook.settings.get("url")), headers, body)

    def take_deliveries(self) -> list[Delivery]:
        """Remove and return the queued web hook deliveries."""
        with self.lock:
            out, self.deliveries = self.deliveries, []
            return out

    def record_delivery(self, hook_id: int, event: str, code: int | None, body: str, at: float) -> None:
        """Remember the outcome of a delivery on the hook (shown by ``ping``)."""
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is None:
                return
            hook.event_status[event] = {
                "last_response": {"code": code, "body": body[:1000]},
                "last_trigger_status": "success" if code is not None and 200 <= code < 300 else "failure",
                "last_trigger_time": at,
            }

    # ------------------------------------------------------------------ urls and rendering
    def _api(self, account: str) -> str:
        return f"{self.base_url}/{account}/api"

    def _cluster_url(self, cluster: ClusterRec) -> str:
        return f"{self._api(cluster.account)}/clusters/{cluster.id}"

    def _job_url(self, job: JobRec) -> str:
        return f"{self._api(job.account)}/jobs/{job.id}"

    def render_cluster(self, c: ClusterRec) -> dict[str, Any]:
        """Return the API view of a cluster."""
        running = queued = 0
        for jid in c.active_jobs:
            status = self.jobs[jid].status
            if status == "running":
                running += 1
            elif status == "queued":
                queued += 1
        extra = c.extra
        return {
            "id": c.id,
            "name": c.name,
            "description": c.description,
            "status": c.status,
            "owner_id": c.owner_id,
            "plan_id": None,
            "nodes": c.nodes,
            "type": c.type,
            "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at),
            "available_since": iso(c.available_since),
            "launched_at": iso(c.launched_at),
            "terminated_at": iso(c.terminated_at),
            "idle_since": iso(c.idle_since),
            "running_jobs_count": running,
            "queued_jobs_count": queued,
            "terminate_on_idle": c.terminate_on_idle,
            "time_to_idle": c.time_to_idle,
            "terminated_on_idle": c.terminated_on_idle,
            "region": c.region,
            "zone": c.zone,
            "master_instance_type": extra.get("master_instance_type"),
            "slave_instance_type": extra.get("slave_instance_type"),
            "master_spot_price": extra.get("master_spot_price"),
            "slave_spot_price": extra.get("slave_spot_price"),
            "master_spot_percentage": extra.get("master_spot_percentage"),
            "slave_spot_percentage": extra.get("slave_spot_percentage"),
            "allow_fallback": bool(extra.get("allow_fallback") or False),
            "stack": c.stack,
            "bootstrap_actions": list(extra.get("bootstrap_actions") or []),
            "url": self._cluster_url(c),
            "html_url": f"{self.base_url}/{c.account}/clusters/{c.id}",
            "creator": dict(c.creator),
        }

    def _render_output(self, job: JobRec, out: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._job_url(job)}/outputs/{out['id']}"
        return {
            "id": out["id"],
            "name": out["name"],
            "records_count": out["records_count"],
            "progress": 1.0,
            "created_at": iso(out["created_at"]),
            "updated_at": iso(out["created_at"]),
            "preview_url": f"{url}/preview",
            "preview_type": "csv",
            "url": url,
            "component": dict(out["component"]),
        }

    def render_job(self, j: JobRec, include: Iterable[str] = (), now: float | None = None) -> dict[str, Any]:
        """Return the API view of a job at ``now`` (default: the clock's now).

        ``include`` may hold ``cluster`` and ``package``.
        """
        if now is None:
            now = self.now()
        end = j.ended_at if j.ended_at is not None else now
        runtime = int(max(0.0, end - j.started_at)) if j.started_at is not None else 0
        package = self.packages[j.package_id]
        url = self._job_url(j)
        out: dict[str, Any] = {
            "id": j.id,
            "status": j.status,
            "variables": dict(j.variables),
            "dynamic_variables": dict(j.dynamic_variables) if j.dynamic_variables is not None else None,
            "owner_id": j.owner_id,
            "progress": self._progress(j, now),
            "outputs_count": len(package.outputs),
            "outputs": [self._render_output(j, o) for o in j.outputs],
            "started_at": iso(j.started_at),
            "created_at": iso(j.created_at),
            "updated_at": iso(self.job_updated_at(j, now)),
            "failed_at": iso(j.failed_at),
            "completed_at": iso(j.completed_at),
            "cluster_id": j.cluster_id,
            "package_id": j.package_id,
            "errors": j.errors,
            "runtime_in_seconds": runtime,
            "url": url,
            "html_url": f"{self.base_url}/{j.account}/jobs/{j.id}",
            "log_url": f"{url}/log",
            "creator": dict(j.creator),
            "attempts": j.attempts,
            "master_auto_retry_attempts": j.master_auto_retry_attempts,
        }
        if "cluster" in include:
            out["cluster"] = self.render_cluster(self.clusters[j.cluster_id])
        if "package" in include:
            out["package"] = self.render_package(package)
        return out

    def render_package(self, p: PackageRec, *, detail: bool = False, flow: bool = False) -> dict[str, Any]:
        """Return the API view of a package."""
        out: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "description": p.description,
            "variables": dict(p.variables),
            "owner_id": p.owner_id,
            "created_at": iso(p.created_at),
            "updated_at": iso(p.updated_at),
            "url": f"{self._api(p.account)}/packages/{p.id}",
            "html_url": f"{self.base_url}/{p.account}/packages/{p.id}",
            "status": p.status,
            "flow_type": p.flow_type,
        }
        if detail:
            out.update(
                {
                    "version": p.version,
                    "flow_version": p.flow_version,
                    "package_version": "1.0",
                    "item_id": f"package-{p.id}",
                }
            )
        if flow:
            out["data_flow_json"] = p.data_flow_json
        return out

    def render_schedule(self, s: ScheduleRec) -> dict[str, Any]:
        """Return the API view of a schedule."""
        f = s.fields
        task = f["task"]
        return {
            "id": s.id,
            "name": f["name"],
            "description": f.get("description"),
            "owner_id": s.owner_id,
            "status": f["status"],
            "start_at": iso(f["start_at"]),
            "next_run_at": iso(self._next_run(s)),
            "interval_amount": f["interval_amount"],
            "interval_unit": f["interval_unit"],
            "last_run_at": iso(s.last_run_at),
            "last_run_status": s.last_run_status,
            "execution_count": s.execution_count,
            "overlap": f["overlap"],
            "reuse_cluster_strategy": f["reuse_cluster_strategy"],
            "auto_retry": f["auto_retry"],
            "auto_retry_attempts": f["auto_retry_attempts"],
            "task": {
                "nodes": task["nodes"],
                "terminate_on_idle": task["terminate_on_idle"],
                "time_to_idle": task["time_to_idle"],
                "packages": [
                    {"package_id": p["package_id"], "variables": dict(p.get("variables") or {})}
                    for p in task["packages"]
                ],
            },
            "created_at": iso(s.created_at),
            "updated_at": iso(s.updated_at),
            "url": f"{self._api(s.account)}/schedules/{s.id}",
            "html_url": f"{self.base_url}/{s.account}/schedules/{s.id}",
        }

    def _next_run(self, s: ScheduleRec) -> float | None:
        if s.fields["status"] != "enabled":
            return None
        unit = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800, "months": 2592000}
        step = unit.get(s.fields["interval_unit"], 3600) * max(1, int(s.fields["interval_amount"]))
        start = float(s.fields["start_at"])
        now = self.now()
        if start >= now:
            return start
        return start + (int((now - start) // step) + 1) * step

    def render_hook(self, h: HookRec) -> dict[str, Any]:
        """Return the API view of a hook (write-only settings hidden)."""
        settings = dict(h.settings)
        if "basic_auth_data" in settings:
            settings.pop("basic_auth_data")
            settings["encrypted_basic_auth_data"] = "*****"
        return {
            "id": h.id,
            "name": h.name,
            "active": h.active,
            "type": h.type,
            "settings": settings,
            "events": list(h.events),
            "salt": h.salt,
            "created_at": iso(h.created_at),
            "updated_at": iso(h.updated_at),
            "url": f"{self._api(h.account)}/hooks/{h.id}",
        }

    # ------------------------------------------------------------------ lookups
    def account(self, slug: str) -> Account:
        """Return an account or raise 404."""
        account = self.accounts.get(slug)
        if account is None:
            raise not_found("Account")
        return account

    def creator(self, slug: str) -> dict[str, Any]:
        """Return the User creator object of an account's user."""
        account = self.account(slug)
        return {
            "type": "User",
            "id": account.user_id,
            "display_name": account.user_name,
            "url": f"{self._api(slug)}/members/{account.user_id}",
            "html_url": f"{self.base_url}/{slug}/settings/members/{account.user_id}",
        }

    def get_cluster(self, slug: str, cluster_id: int) -> ClusterRec:
        """Return a cluster of the account or raise 404."""
        cluster = self.clusters.get(cluster_id)
        if cluster is None or cluster.account != slug:
            raise not_found("Cluster")
        return cluster

    def get_job(self, slug: str, job_id: int) -> JobRec:
        """Return a job of the account or raise 404."""
        job = self.jobs.get(job_id)
        if job is None or job.account != slug:
            raise not_found("Job")
        return job

    def get_package(self, slug: str, package_id: int) -> PackageRec:
        """Return a package of the account or raise 404."""
        package = self.packages.get(package_id)
        if package is None or package.account != slug:
            raise not_found("Package")
        return package

    def get_schedule(self, slug: str, schedule_id: int) -> ScheduleRec:
        """Return a schedule of the account or raise 404."""
        schedule = self.schedules.get(schedule_id)
        if schedule is None or schedule.account != slug:
            raise not_found("Schedule")
        return schedule

    def get_hook(self, slug: str, hook_id: int) -> HookRec:
        """Return a hook of the account or raise 404."""
        hook = self.hooks.get(hook_id)
        if hook is None or hook.account != slug:
            raise not_found("Hook")
        return hook

    # ------------------------------------------------------------------ clusters
    def create_cluster(
        self, slug: str, p: dict[str, Any], creator: dict[str, Any] | None = None
    ) -> ClusterRec:
        """Create a cluster (status ``pending``)."""
        with self.lock:
            self.tick()
            account = self.account(slug)
            ctype = p.get("type") or "production"
            nodes = p.get("nodes")
            if ctype not in ("production", "sandbox"):
                raise ApiError(
                    422, f"Invalid cluster type {ctype!r}.", {"type": ["is not included in the list"]}
                )
            if ctype == "sandbox":
                if nodes is None:
                    nodes = 1
                if nodes != 1:
                    raise ApiError(
                        422, "A sandbox cluster must have exactly 1 node.", {"nodes": ["must be 1"]}
                    )
            else:
                if nodes is None:
                    raise ApiError(
                        422, "nodes is required for a production cluster.", {"nodes": ["is required"]}
                    )
                if not 2 <= nodes <= account.max_nodes:
                    raise ApiError(
                        422,
                        f"nodes must be between 2 and {account.max_nodes} for a production cluster.",
                        {"nodes": [f"must be between 2 and {account.max_nodes}"]},
                    )
            now = self.now()
            cid = self._take_id("cluster")
            words = ("cyan", "brown", "amber", "green", "misty", "quiet")
            things = ("wave", "sea", "hill", "leaf", "river", "cloud")
            default_name = f"{words[cid % 6]}-{things[(cid // 6) % 6]}-{cid % 1000:03d}"
            extra_keys = (
                "master_instance_type",
                "slave_instance_type",
                "master_spot_price",
                "slave_spot_price",
                "master_spot_percentage",
                "slave_spot_percentage",
                "allow_fallback",
                "bootstrap_actions",
            )
            user_creator = creator or self.creator(slug)
            cluster = ClusterRec(
                id=cid,
                account=slug,
                name=p.get("name") or default_name,
                description=p.get("description"),
                type=ctype,
                nodes=int(nodes),
                terminate_on_idle=bool(p.get("terminate_on_idle") or False),
                time_to_idle=int(p["time_to_idle"]) if p.get("time_to_idle") is not None else 3600,
                region=p.get("region") or account.region,
                zone=p.get("zone"),
                stack=p.get("stack") or "white-everest",
                extra={k: p.get(k) for k in extra_keys if p.get(k) is not None},
                creator=user_creator,
                owner_id=account.user_id,
                created_at=now,
                updated_at=now,
                watchers={account.user_id},
            )
            self._set_cluster_status(cluster, "pending", now)
            cluster.next_at, cluster.next_action = now + self.durations["cluster_pending"], "creating"
            if self.cluster_failures:
                cluster.fail_message = self.cluster_failures.pop(0)
            self.clusters[cid] = cluster
            self.active_clusters[cid] = cluster
            self._emit("cluster.requested", cluster=cluster)
            return cluster

    def update_cluster(self, slug: str, cluster_id: int, p: dict[str, Any]) -> ClusterRec:
        """Update name, description, idle settings or (production) nodes."""
        with self.lock:
            self.tick()
            cluster = self.get_cluster(slug, cluster_id)
            if cluster.status in GONE_CLUSTER:
                raise ApiError(422, f"Cluster {cluster_id} is {cluster.status} and cannot be updated.")
            if p.get("nodes") is not None and p["nodes"] != cluster.nodes:
                if cluster.type == "sandbox":
                    raise ApiError(
                        422, "A sandbox cluster cannot be resized.", {"nodes": ["cannot be changed"]}
                    )
                maximum = self.accounts[slug].max_nodes
                if not 2 <= p["nodes"] <= maximum:
                    raise ApiError(
                        422, f"nodes must be between 2 and {maximum}.", {"nodes": [f"must be 2..{maximum}"]}
                    )
                cluster.nodes = int(p["nodes"])
            for key in ("name", "description"):
                if p.get(key) is not None:
                    setattr(cluster, key, p[key])
            if p.get("terminate_on_idle") is not None:
                cluster.terminate_on_idle = bool(p["terminate_on_idle"])
            if p.get("time_to_idle") is not None:
                cluster.time_to_idle = int(p["time_to_idle"])
            now = self.now()
            cluster.updated_at = max(now, cluster.updated_at + 1)
            self._schedule_idle(cluster)
            return cluster

    def terminate_cluster(self, slug: str, cluster_id: int) -> ClusterRec:
        """Request termination (``pending_terminate``)."""
        with self.lock:
            self.tick()
            cluster = self.get_cluster(slug, cluster_id)
            if cluster.status not in ("available", "idle", "error", "scaling"):
                raise ApiError(
                    422,
                    f"Cluster {cluster_id} is {cluster.status} and cannot be terminated now.",
                    {"status": [cluster.status]},
                )
            now = self.now()
            self._set_cluster_status(cluster, "pending_terminate", now)
            cluster.next_at = now + self.durations["cluster_terminating"] / 2
            cluster.next_action = "terminating"
            self.active_clusters[cluster.id] = cluster
            return cluster

    # ------------------------------------------------------------------ jobs
    def create_job(
        self,
        slug: str,
        p: dict[str, Any],
        creator: dict[str, Any] | None = None,
        attempts: int = 0,
    ) -> JobRec:
        """Run a package on a cluster (status ``idle``)."""
        with self.lock:
            self.tick()
            account = self.account(slug)
            cluster = self.clusters.get(int(p["cluster_id"]))
            if cluster is None or cluster.account != slug:
                raise ApiError(422, f"Cluster {p['cluster_id']} not found.", {"cluster_id": ["not found"]})
            package = self.packages.get(int(p["package_id"]))
            if package is None or package.account != slug:
                raise ApiError(422, f"Package {p['package_id']} not found.", {"package_id": ["not found"]})
            if cluster.status in GONE_CLUSTER:
                raise ApiError(
                    422,
                    f"Cluster {cluster.id} is {cluster.status}; jobs cannot run on it.",
                    {"cluster_id": [cluster.status]},
                )
            now = self.now()
            job = JobRec(
                id=self._take_id("job"),
                account=slug,
                cluster_id=cluster.id,
                package_id=package.id,
                variables=dict(p.get("variables") or {}),
                dynamic_variables=dict(p["dynamic_variables"]) if p.get("dynamic_variables") else None,
                creator=creator or self.creator(slug),
                owner_id=account.user_id,
                created_at=now,
                updated_at=now,
                attempts=attempts,
                watchers={account.user_id},
            )
            self._set_job_status(job, "idle", now)
            for spec in self.job_failures:
                if (
                    spec["count"] > 0
                    and spec.get("package_id") in (None, package.id)
                    and spec.get("job_id") is None
                ):
                    spec["count"] -= 1
                    job.fail_message = spec["message"]
                    break
            self.job_failures = [s for s in self.job_failures if s["count"] > 0]
            self.jobs[job.id] = job
            self.active_jobs[job.id] = job
            cluster.active_jobs.add(job.id)
            if cluster.status == "error":
                job.next_at, job.next_action = now, "cluster_error"
            elif cluster.status in READY_CLUSTER:
                if cluster.status == "idle":
                    self._set_cluster_status(cluster, "available", now)
                    cluster.idle_since = None
                job.next_at, job.next_action = now + self.durations["job_idle"], "pending"
            cluster.updated_at = max(cluster.updated_at, now)
            self._schedule_idle(cluster)
            self._emit("job.submitted", job=job, at=now)
            return job

    def stop_job(self, slug: str, job_id: int) -> JobRec:
        """Request a stop (``pending_stoppage``)."""
        with self.lock:
            self.tick()
            job = self.get_job(slug, job_id)
            if job.status not in STOPPABLE_JOB:
                raise ApiError(
                    422, f"Job {job_id} is {job.status} and cannot be stopped.", {"status": [job.status]}
                )
            now = self.now()
            job.frozen_progress = self._progress(job, now)
            if job.started_at is not None:
                job.ended_at = now
            self._set_job_status(job, "pending_stoppage", now)
            job.next_at = now + self.durations["job_stopping"] / 2
            job.next_action = "stopping"
            self._promote_queued(self.clusters[job.cluster_id], now)
            return job

    def preview(self, job: JobRec, output_id: int) -> str:
        """Return the deterministic preview text of one output (at most 100 lines)."""
        out = next((o for o in job.outputs if o["id"] == output_id), None)
        if out is None:
            raise not_found("Output")
        merged = self.merged_variables(job)
        first = "\t".join(f"{k}={strip_expression(v)}" for k, v in merged.items())
        fields = out["component"].get("fields") or ["id", "name", "amount"]
        lines = [first or "(no variables)", "\t".join(fields)]
        seed = bytes.fromhex(out["seed"])
        rows = min(out["records_count"], 5)
        for n in range(rows):
            digest = hashlib.sha256(seed + n.to_bytes(2, "big")).hexdigest()
            values = [
                str(n + 1),
                f"{out['name']}_{digest[:6]}",
                f"{int(digest[6:12], 16) % 100000 / 100:.2f}",
            ]
            lines.append(
                "\t".join(values[: len(fields)] + [digest[12 + i : 18 + i] for i in range(len(fields) - 3)])
            )
        return "\n".join(lines[:100])

    def job_log(self, job: JobRec) -> str:
        """Return a short log text for a job."""
        lines = [f"{h['at']} job {job.id} {h['status']}" for h in job.history]
        if job.errors:
            lines.append(f"ERROR: {job.errors}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ schedules
    def run_schedule(self, slug: str, schedule: ScheduleRec) -> None:
        """Run a schedule now: find or create a cluster and start one job per task package."""
        now = self.now()
        f = schedule.fields
        task = f["task"]
        account = self.account(slug)
        sched_creator = {
            "type": "Schedule",
            "id": schedule.id,
            "display_name": f["name"],
            "url": f"{self._api(slug)}/schedules/{schedule.id}",
            "html_url": f"{self.base_url}/{slug}/schedules/{schedule.id}",
        }
        cluster: ClusterRec | None = None
        strategy = f["reuse_cluster_strategy"]
        if strategy != "none":
            for c in sorted(self.clusters.values(), key=lambda c: c.id):
                if c.account != slug or c.status in GONE_CLUSTER or c.status == "error":
                    continue
                if c.nodes < int(task["nodes"]) and c.type == "production":
                    continue
                if strategy == "self" and c.creator.get("type") != "Schedule":
                    continue
                if strategy == "self" and c.creator.get("id") != schedule.id:
                    continue
                cluster = c
                break
        if cluster is None:
            nodes = max(2, min(int(task["nodes"]), account.max_nodes))
            cluster = self.create_cluster(
                slug,
                {
                    "nodes": nodes,
                    "type": "production",
                    "terminate_on_idle": task["terminate_on_idle"],
                    "time_to_idle": task["time_to_idle"],
                },
                creator=sched_creator,
            )
        for item in task["packages"]:
            self.create_job(
                slug,
                {
                    "cluster_id": cluster.id,
                    "package_id": item["package_id"],
                    "variables": item.get("variables"),
                },
                creator=sched_creator,
            )
        schedule.execution_count += 1
        schedule.last_run_at = now
        schedule.last_run_status = "running"
        schedule.updated_at = now

    # ------------------------------------------------------------------ rate limits and log
    def charge(self, api_key: str, free: bool) -> tuple[bool, int, int]:
        """Charge one credit to ``api_key`` unless ``free``; return (allowed, limit, remaining)."""
        with self.lock:
            now = self.now()
            bucket = self.rate.get(api_key)
            if bucket is None:
                bucket = {
                    "limit": self.rate_default_limit,
                    "remaining": self.rate_default_limit,
                    "window": now,
                }
                self.rate[api_key] = bucket
            if now - bucket["window"] >= 3600:
                bucket["window"] = now
                bucket["remaining"] = bucket["limit"]
            if free:
                return True, int(bucket["limit"]), int(bucket["remaining"])
            if bucket["remaining"] <= 0:
                return False, int(bucket["limit"]), 0
            bucket["remaining"] -= 1
            return True, int(bucket["limit"]), int(bucket["remaining"])

    def rate_status(self, api_key: str) -> tuple[int, int]:
        """Return (limit, remaining) without charging."""
        _, limit, remaining = self.charge(api_key, True)
        return limit, remaining

    def set_rate_limit(self, limit: int | None, remaining: int | None, api_key: str | None) -> dict[str, Any]:
        """Set the hourly budget (and/or what is left of it) for one key or every key."""
        with self.lock:
            keys = [api_key] if api_key else sorted(self.keys)
            if limit is not None and not api_key:
                self.rate_default_limit = limit
            now = self.now()
            for key in keys:
                bucket = self.rate.setdefault(
                    key,
                    {"limit": self.rate_default_limit, "remaining": self.rate_default_limit, "window": now},
                )
                if limit is not None:
                    bucket["limit"] = limit
                    bucket["remaining"] = (
                        min(bucket["remaining"], limit) if remaining is None else bucket["remaining"]
                    )
                    if remaining is None:
                        bucket["remaining"] = limit
                if remaining is not None:
                    bucket["remaining"] = remaining
                bucket["window"] = now
            return {
                "limits": {
                    k: {"limit": int(b["limit"]), "remaining": int(b["remaining"])}
                    for k, b in self.rate.items()
                }
            }

    def log_request(self, method: str, path: str, status: int, credit: int, query: str = "") -> None:
        """Append to the request log and update the totals."""
        with self.lock:
            self.request_log.append(
                {"method": method, "path": path, "query": query, "status": status, "credit": credit}
            )
            self.totals["count"] += 1
            self.totals["credits"] += credit
            by_status = self.totals["by_status"]
            by_status[str(status)] = by_status.get(str(status), 0) + 1

    # ------------------------------------------------------------------ inspection
    def snapshot(self) -> dict[str, Any]:
        """Return every object in every state with its account and transition history."""
        with self.lock:
            self.tick()

            def with_meta(obj: dict[str, Any], account: str, history: list[dict[str, Any]]) -> dict[str, Any]:
                obj["account_id"] = account
                obj["history"] = [{"status": h["status"], "at": h["at"]} for h in history]
                return obj

            return {
                "now": iso(self.now()),
                "clusters": [
                    with_meta(self.render_cluster(c), c.account, c.history) for c in self.clusters.values()
                ],
                "jobs": [with_meta(self.render_job(j), j.account, j.history) for j in self.jobs.values()],
                "packages": [
                    dict(self.render_package(p, detail=True), account_id=p.account)
                    for p in self.packages.values()
                ],
                "schedules": [
                    dict(self.render_schedule(s), account_id=s.account) for s in self.schedules.values()
                ],
                "hooks": [dict(self.render_hook(h), account_id=h.account) for h in self.hooks.values()],
                "accounts": [
                    {"account_id": a.slug, "id": a.id, "max_nodes": a.max_nodes, "region": a.region}
                    for a in self.accounts.values()
                ],
                "faults": self.faults.describe(),
                "pending_failures": {
                    "jobs": list(self.job_failures),
                    "clusters": list(self.cluster_failures),
                },
            }

    # ------------------------------------------------------------------ state faults
    def add_job_failure(
        self, job_id: int | None, package_id: int | None, message: str | None, count: int
    ) -> None:
        """Make a given job, or the next ``count`` jobs (of a package), fail with ``message``."""
        with self.lock:
            self.tick()
            text = message or DEFAULT_JOB_FAILURE_TEXT
            if job_id is not None:
                job = self.jobs.get(job_id)
                if job is None:
                    raise ApiError(422, f"Job {job_id} not found.")
                job.fail_message = text
                if job.status == "running" and job.started_at is not None:
                    now = self.now()
                    job.next_at = max(now, job.started_at + job.run_duration / 2)
                    job.next_action = "fail"
                elif job.status in ("idle", "pending", "queued") and job.next_action != "cluster_error":
                    pass  # fails half-way through its run
                return
            self.job_failures.append({"package_id": package_id, "message": text, "count": max(1, count)})

    def add_cluster_failure(self, cluster_id: int | None, message: str | None) -> None:
        """Send a given cluster to ``error`` now, or make the next created cluster fail provisioning."""
        with self.lock:
            self.tick()
            text = message or "Cluster provisioning failed."
            if cluster_id is None:
                self.cluster_failures.append(text)
                return
            cluster = self.clusters.get(cluster_id)
            if cluster is None:
                raise ApiError(422, f"Cluster {cluster_id} not found.")
            if cluster.status in GONE_CLUSTER or cluster.status == "error":
                raise ApiError(422, f"Cluster {cluster_id} is {cluster.status}.")
            cluster.fail_message = text
            self._cluster_error(cluster, self.now())


def sort_filter(
    items: Iterable[Any],
    *,
    status: str | None,
    since: float | None,
    sort: str,
    direction: str,
    get_status: Callable[[Any], str],
    key_created: Callable[[Any], float],
    key_updated: Callable[[Any], float],
    key_name: Callable[[Any], str] | None = None,
) -> list[Any]:
    """Filter by status and ``since`` (inclusive, second precision) and sort (ties broken by id)."""
    selected = []
    for item in items:
        if status and status != "all" and get_status(item) != status:
            continue
        if since is not None and int(key_updated(item)) < int(since):
            continue
        selected.append(item)
    if sort == "updated":
        selected.sort(key=lambda i: (int(key_updated(i)), i.id))
    elif sort == "name" and key_name is not None:
        selected.sort(key=lambda i: (key_name(i).lower(), i.id))
    else:
        selected.sort(key=lambda i: (int(key_created(i)), i.id))
    if direction != "asc":
        selected.reverse()
    return selected


def new_salt() -> str:
    """Return a fresh 64-hex-character hook salt."""
    return secrets.token_hex(32)


__all__ = ["ApiError", "Store", "parse_iso", "sort_filter"]

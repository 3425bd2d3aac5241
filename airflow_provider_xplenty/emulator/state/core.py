"""The core of the store: the lock, the seed, id counters, the clock, lookups and URLs."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from airflow_provider_xplenty.emulator.clock import DEFAULT_DURATIONS, Clock, iso
from airflow_provider_xplenty.emulator.faults import FaultRegistry
from airflow_provider_xplenty.emulator.seed import seed_accounts, seed_packages
from airflow_provider_xplenty.emulator.state.records import (
    Account,
    ApiError,
    ClusterRec,
    Delivery,
    HookRec,
    JobRec,
    PackageRec,
    ScheduleRec,
    not_found,
)


class StoreCore:
    """All emulator state behind one re-entrant lock; the other parts of :class:`Store` build on it."""

    def __init__(self, account_id: str = "demo", api_key: str = "demo-api-key", speed: float = 1.0) -> None:
        self.lock = threading.RLock()
        self.default_account = account_id
        self.default_key = api_key
        self.faults = FaultRegistry(self.lock)  # one lock for all state
        self.base_url = "http://127.0.0.1:8999"
        self.deliveries: list[Delivery] = []
        #: Bumped by every reset (and :meth:`drop_pending`): work started before (a slow response) is stale.
        self.generation = 0
        self.reset(speed)

    # ------------------------------------------------------------------ setup
    def reset(self, speed: float = 1.0) -> None:
        """Return to the seed state with a fresh clock; clear faults, log and rate limits."""
        with self.lock:
            self.drop_pending()
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

    def drop_pending(self) -> None:
        """Abandon slow responses still waiting to act or answer (their connections are dropped)."""
        with self.lock:
            self.generation += 1

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

    # ------------------------------------------------------------------ urls
    def _api(self, account: str) -> str:
        return f"{self.base_url}/{account}/api"

    def _cluster_url(self, cluster: ClusterRec) -> str:
        return f"{self._api(cluster.account)}/clusters/{cluster.id}"

    def _job_url(self, job: JobRec) -> str:
        return f"{self._api(job.account)}/jobs/{job.id}"

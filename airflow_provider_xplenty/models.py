"""The status enums (the only home of status sets) and the typed views of the Xplenty API objects.

The pydantic views (``Cluster``, ``Job``, ``Package`` ...) live in :mod:`.objects` and load on first
use (``from airflow_provider_xplenty.models import Job`` works as usual): operators and sensors need
only the enums to be defined, so a DAG file that builds them does not pay for the models.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any


class ClusterStatus(str, Enum):
    """Cluster status values (docs/api-notes.md, "Cluster status machine")."""

    PENDING = "pending"
    CREATING = "creating"
    AVAILABLE = "available"
    IDLE = "idle"
    SCALING = "scaling"
    ERROR = "error"
    PENDING_TERMINATE = "pending_terminate"
    TERMINATING = "terminating"
    TERMINATED = "terminated"

    @classmethod
    def ready_states(cls) -> frozenset[str]:
        """States in which a cluster accepts and runs jobs."""
        return frozenset({cls.AVAILABLE.value, cls.IDLE.value})

    @classmethod
    def not_yet_terminable_states(cls) -> frozenset[str]:
        """States in which ``DELETE clusters/{id}`` is refused (422) for now: provisioning or resizing."""
        return frozenset({cls.PENDING.value, cls.CREATING.value, cls.SCALING.value})

    @classmethod
    def terminable_states(cls) -> frozenset[str]:
        """States from which a terminate request is accepted or has nothing (more) to do."""
        return frozenset({cls.AVAILABLE.value, cls.IDLE.value, cls.ERROR.value}) | cls.terminating_states()

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        """States a cluster never leaves."""
        return frozenset({cls.TERMINATED.value})

    @classmethod
    def terminating_states(cls) -> frozenset[str]:
        """States of a cluster that is going away or gone (terminate is already done)."""
        return frozenset({cls.PENDING_TERMINATE.value, cls.TERMINATING.value, cls.TERMINATED.value})

    @classmethod
    def failed_states(cls) -> frozenset[str]:
        """States that mean the cluster will never become available."""
        return frozenset({cls.ERROR.value}) | cls.terminating_states()

    @classmethod
    def active_states(cls) -> frozenset[str]:
        """States of a cluster that is (or will be) billed."""
        return frozenset(
            {cls.PENDING.value, cls.CREATING.value, cls.AVAILABLE.value, cls.IDLE.value, cls.SCALING.value}
        )


class JobStatus(str, Enum):
    """Job status values (docs/api-notes.md, "Job status machine")."""

    IDLE = "idle"
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PENDING_STOPPAGE = "pending_stoppage"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        """States a job never leaves."""
        return frozenset({cls.COMPLETED.value, cls.FAILED.value, cls.STOPPED.value})

    @classmethod
    def failed_states(cls) -> frozenset[str]:
        """Terminal states that count as failure."""
        return frozenset({cls.FAILED.value, cls.STOPPED.value})

    @classmethod
    def success_states(cls) -> frozenset[str]:
        """Terminal states that count as success."""
        return frozenset({cls.COMPLETED.value})

    @classmethod
    def active_states(cls) -> frozenset[str]:
        """States of a job that has not ended; unknown statuses count as active too."""
        return frozenset(
            {
                cls.IDLE.value,
                cls.PENDING.value,
                cls.QUEUED.value,
                cls.RUNNING.value,
                cls.PENDING_STOPPAGE.value,
                cls.STOPPING.value,
            }
        )

    @classmethod
    def stopping_states(cls) -> frozenset[str]:
        """States of a job whose stop was accepted and is under way."""
        return frozenset({cls.PENDING_STOPPAGE.value, cls.STOPPING.value})

    @classmethod
    def stop_settled_states(cls) -> frozenset[str]:
        """States after which a stop request has nothing (more) to do: being stopped, or ended."""
        return cls.stopping_states() | cls.terminal_states()

    @classmethod
    def stoppable_states(cls) -> frozenset[str]:
        """States in which ``DELETE jobs/{id}`` is accepted."""
        return frozenset({cls.IDLE.value, cls.PENDING.value, cls.QUEUED.value, cls.RUNNING.value})


_OBJECTS = frozenset(
    {
        "Creator",
        "Cluster",
        "JobOutput",
        "Job",
        "Package",
        "ScheduleTaskPackage",
        "ScheduleTask",
        "Schedule",
        "RateLimitStatus",
    }
)

if TYPE_CHECKING:
    from airflow_provider_xplenty.objects import (
        Cluster,
        Creator,
        Job,
        JobOutput,
        Package,
        RateLimitStatus,
        Schedule,
        ScheduleTask,
        ScheduleTaskPackage,
    )

__all__ = [
    "Cluster",
    "ClusterStatus",
    "Creator",
    "Job",
    "JobOutput",
    "JobStatus",
    "Package",
    "RateLimitStatus",
    "Schedule",
    "ScheduleTask",
    "ScheduleTaskPackage",
]


def __getattr__(name: str) -> Any:
    """Load the pydantic views on first use."""
    if name in _OBJECTS:
        from airflow_provider_xplenty import objects

        return getattr(objects, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

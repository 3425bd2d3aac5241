"""Schedule runs: find or create a cluster and start one job per package of the schedule's task."""

from __future__ import annotations

from airflow_provider_xplenty.emulator.state.clusters import ClusterOps
from airflow_provider_xplenty.emulator.state.jobs import JobOps
from airflow_provider_xplenty.emulator.state.records import GONE_CLUSTER, ClusterRec, ScheduleRec


class ScheduleOps(ClusterOps, JobOps):
    """Run schedules."""

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

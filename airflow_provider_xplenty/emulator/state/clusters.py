"""Cluster operations of the API: create, update, terminate."""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty.emulator.state.machine import StoreMachine
from airflow_provider_xplenty.emulator.state.records import GONE_CLUSTER, ApiError, ClusterRec


class ClusterOps(StoreMachine):
    """Create, update and terminate clusters."""

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

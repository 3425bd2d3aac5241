"""Walk the nine steps of the seed workflow against a local Xplenty API emulator, over plain HTTP.

1. create a cluster            2. wait until it is available
3. run package 103 with InputPath=/input<date>, OutputPath=/output<date>
4. monitor the job to completion (status transitions and progress)
5. preview its output          6. run one more job (package 101)
7. monitor that job            8. terminate the cluster
9. verify the cluster is terminated

The script starts its own emulator on a free port of 127.0.0.1 (clock sped up) unless ``--url`` points
at a running one. Exits 0 on success.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

import requests

ACCEPT = "application/vnd.xplenty+json; version=2"


class Demo:
    """A tiny client that prints what it does."""

    def __init__(self, base_url: str, account_id: str, api_key: str, poll: float) -> None:
        self.api = f"{base_url}/{account_id}/api"
        self.session = requests.Session()
        self.session.auth = (api_key, "")
        self.session.headers["Accept"] = ACCEPT
        self.poll = poll

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.session.request(method, self.api + path, timeout=10, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def wait(self, kind: str, ident: int, done: set[str], timeout: float = 60) -> dict[str, Any]:
        last = None
        deadline = time.monotonic() + timeout
        while True:
            obj = self.call("GET", f"/{kind}/{ident}")
            shown = (obj["status"], obj.get("progress"))
            if shown != last:
                extra = f"  progress {obj['progress'] * 100:5.1f}%" if "progress" in obj else ""
                print(f"     {kind[:-1]} {ident}: {obj['status']}{extra}")
                last = shown
            if obj["status"] in done:
                return dict(obj)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind[:-1]} {ident} stuck in {obj['status']}")
            time.sleep(self.poll)

    def run_job(self, cluster_id: int, package_id: int, variables: dict[str, str]) -> dict[str, Any]:
        job = self.call(
            "POST", "/jobs", json={"cluster_id": cluster_id, "package_id": package_id, "variables": variables}
        )
        print(f"     job {job['id']} created: status {job['status']}, variables {job['variables']}")
        return dict(job)


def run(base_url: str, account_id: str, api_key: str, poll: float) -> int:
    demo = Demo(base_url, account_id, api_key, poll)
    today = dt.date.today().strftime("%Y%m%d")

    print("1. Create a cluster")
    cluster = demo.call("POST", "/clusters", json={"nodes": 2, "name": "demo-cluster", "time_to_idle": 3600})
    print(f"     cluster {cluster['id']} ({cluster['name']}): {cluster['status']}  {cluster['html_url']}")

    print("2. Verify the cluster is available")
    cluster = demo.wait("clusters", cluster["id"], {"available", "idle", "error"})
    if cluster["status"] == "error":
        print("     cluster failed to provision")
        return 1

    print(f"3. Run package 103 with InputPath=/input{today}, OutputPath=/output{today}")
    variables = {"InputPath": f"'/input{today}'", "OutputPath": f"'/output{today}'"}
    job = demo.run_job(cluster["id"], 103, variables)

    print("4. Monitor the job")
    job = demo.wait("jobs", job["id"], {"completed", "failed", "stopped"})
    if job["status"] != "completed":
        print(f"     job ended {job['status']}: {job['errors']}")
        return 1
    print(f"     runtime {job['runtime_in_seconds']} s, {job['outputs_count']} output(s)")

    print("5. Preview the output")
    for output in job["outputs"]:
        preview = demo.call("GET", f"/jobs/{job['id']}/outputs/{output['id']}/preview")["preview"]
        print(f"     output {output['name']} ({output['records_count']} records):")
        for line in preview.splitlines()[:4]:
            print(f"       | {line}")
    first_line = demo.call("GET", f"/jobs/{job['id']}/outputs/{job['outputs'][0]['id']}/preview")["preview"]
    if f"InputPath=/input{today}" not in first_line.splitlines()[0]:
        print("     the preview does not show the job's variables")
        return 1

    print("6. Run one more job (package 101)")
    second = demo.run_job(cluster["id"], 101, {"InputPath": f"'/customers{today}'"})

    print("7. Monitor the second job")
    second = demo.wait("jobs", second["id"], {"completed", "failed", "stopped"})
    if second["status"] != "completed":
        print(f"     job ended {second['status']}: {second['errors']}")
        return 1

    print("8. Terminate the cluster")
    cluster = demo.call("DELETE", f"/clusters/{cluster['id']}")
    print(f"     cluster {cluster['id']}: {cluster['status']}")

    print("9. Verify the cluster is terminated")
    cluster = demo.wait("clusters", cluster["id"], {"terminated"})
    print(f"     terminated at {cluster['terminated_at']}")
    limits = demo.call("GET", "/rate_limit_status")["limits"]
    print(f"Done: all nine steps succeeded ({limits['limit'] - limits['remaining']} API credits used).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", help="use a running emulator (e.g. http://127.0.0.1:8999) instead of starting one"
    )
    parser.add_argument("--account-id", default="demo")
    parser.add_argument("--api-key", default="demo-api-key")
    parser.add_argument("--speed", type=float, default=30.0, help="clock speed of the emulator started here")
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between status polls")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.url:
        code = run(args.url.rstrip("/"), args.account_id, args.api_key, args.poll)
    else:
        from airflow_provider_xplenty.testing import EmulatorServer

        with EmulatorServer(account_id=args.account_id, api_key=args.api_key, speed=args.speed) as emu:
            print(f"Emulator on {emu.url} (clock x{args.speed:g})")
            code = run(emu.url, args.account_id, args.api_key, args.poll)
    print(f"({time.monotonic() - started:.1f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())

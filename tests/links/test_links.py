"""Extra links: registered, named, and resolving to the emulator's html_url pages."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_xplenty.get_provider_info import get_provider_info
from airflow_provider_xplenty.links import xplenty as links
from airflow_provider_xplenty.links.xplenty import XplentyClusterLink, XplentyJobLink
from airflow_provider_xplenty.operators.cluster import XplentyCreateClusterOperator
from airflow_provider_xplenty.operators.job import XplentyRunJobOperator


def test_links_are_registered_and_named():
    registered = get_provider_info()["extra-links"]
    assert "airflow_provider_xplenty.links.xplenty.XplentyClusterLink" in registered
    assert "airflow_provider_xplenty.links.xplenty.XplentyJobLink" in registered
    assert XplentyClusterLink().name == "Xplenty Cluster"
    assert XplentyJobLink().name == "Xplenty Job"
    assert XplentyJobLink() in XplentyRunJobOperator.operator_extra_links
    assert XplentyClusterLink() in XplentyCreateClusterOperator.operator_extra_links


def test_links_resolve_to_the_emulator_pages(xplenty_emulator, monkeypatch):
    from airflow_provider_xplenty.hooks.xplenty import XplentyHook

    xplenty_emulator.set_speed(1.0, durations={"cluster_pending": 0, "cluster_creating": 0})
    hook = XplentyHook()
    cluster = hook.create_cluster(nodes=2)
    xplenty_emulator.advance(1)
    job = hook.run_job(cluster.id, 101)
    pushed = {"cluster": cluster.html_url, "job": job.html_url}
    for kind, link in (("cluster", XplentyClusterLink()), ("job", XplentyJobLink())):
        monkeypatch.setattr(links, "xcom_value", lambda ti_key, key, kind=kind: pushed[kind])
        url = link.get_link(None, ti_key=None)  # type: ignore[arg-type]
        assert url.startswith(xplenty_emulator.url)
        page = requests.get(url, timeout=10)
        assert page.status_code == 200
        assert str(cluster.id if kind == "cluster" else job.id) in page.text


@pytest.mark.parametrize("value", [None, 42])
def test_link_without_url_is_empty(monkeypatch, value):
    monkeypatch.setattr(links, "xcom_value", lambda ti_key, key: value)
    assert XplentyJobLink().get_link(None, ti_key=None) == ""  # type: ignore[arg-type]

"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_xplenty import __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata: connection form, modules and extra links."""
    return {
        "package-name": "airflow-provider-xplenty",
        "name": "Xplenty",
        "description": "Run Xplenty (Integrate.io ETL) clusters and package jobs from Apache Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Xplenty",
                "external-doc-url": "https://github.com/xplenty/xplenty-api-doc-v2",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": "Xplenty", "python-modules": ["airflow_provider_xplenty.hooks.xplenty"]}
        ],
        "operators": [
            {
                "integration-name": "Xplenty",
                "python-modules": [
                    "airflow_provider_xplenty.operators.cluster",
                    "airflow_provider_xplenty.operators.job",
                    "airflow_provider_xplenty.operators.sweep",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Xplenty",
                "python-modules": [
                    "airflow_provider_xplenty.sensors.cluster",
                    "airflow_provider_xplenty.sensors.job",
                ],
            }
        ],
        "triggers": [
            {"integration-name": "Xplenty", "python-modules": ["airflow_provider_xplenty.triggers.xplenty"]}
        ],
        "notifications": ["airflow_provider_xplenty.notifications.smtp.XplentySmtpNotifier"],
        "config": {
            "xplenty": {
                "description": "Settings of the Xplenty provider.",
                "options": {
                    "shared_watcher": {
                        "description": (
                            "Let all Xplenty triggers of one connection in a triggerer process share one "
                            "poll loop that lists recently updated jobs and clusters, so the API credits "
                            "spent per poll interval do not grow with the number of waiting tasks. "
                            "False: one GET per waiting resource per poll interval."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                    "gc_freeze": {
                        "description": (
                            "When the first shared poller of a triggerer process starts, freeze the "
                            "objects alive then (gc.freeze(): Airflow's imports) so that full garbage "
                            "collections skip them and do not block the event loop for hundreds of ms."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                    "budget_share": {
                        "description": (
                            "Share of the account's hourly API credits (X-RateLimit-Limit, else "
                            "hourly_credits) this process may spend; when it runs short, polls slow down "
                            "(one warning with the numbers) and creates and stops go first."
                        ),
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "0.3",
                        "default": "0.5",
                    },
                    "hourly_credits": {
                        "description": (
                            "The account's API credits per hour, until a response's X-RateLimit-Limit "
                            "says otherwise."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "10000",
                        "default": "5000",
                    },
                    "max_concurrent_requests": {
                        "description": (
                            "Requests to one account in flight at once per event loop (triggerer): "
                            "more wait their turn, so a thousand waits do not block the event loop."
                        ),
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "4",
                        "default": "10",
                    },
                },
            }
        },
        "extra-links": [
            "airflow_provider_xplenty.links.xplenty.XplentyClusterLink",
            "airflow_provider_xplenty.links.xplenty.XplentyJobLink",
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_xplenty.hooks.xplenty.XplentyHook",
                "hook-name": "Xplenty",
                "connection-type": "xplenty",
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                        "description": "Read timeout of each API request. Default 60.",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {"login": "Account ID", "password": "API Key", "host": "API host"},
                    "placeholders": {
                        "login": "the account slug in https://api.xplenty.com/<account_id>/api/",
                        "host": "https://api.xplenty.com",
                        "password": "API key from Xplenty (Settings > API key)",
                    },
                },
            }
        ],
    }

"""Seed data: the accounts, API keys and packages the emulator starts with."""

from __future__ import annotations

from typing import Any

DEFAULT_ACCOUNT_ID = "demo"
DEFAULT_API_KEY = "demo-api-key"
OTHER_ACCOUNT_ID = "other"
OTHER_API_KEY = "other-api-key"


def _outputs(*names: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "component": {
                "name": f"destination{index + 1}",
                "type": "cloud_storage_destination_component",
                "fields": ["id", "name", "amount"],
            },
        }
        for index, name in enumerate(names)
    ]


def seed_accounts(
    account_id: str = DEFAULT_ACCOUNT_ID, api_key: str = DEFAULT_API_KEY
) -> list[dict[str, Any]]:
    """Return the seed accounts (the demo account, then a second account ``other``)."""
    accounts = [{"account_id": account_id, "api_key": api_key, "max_nodes": 10}]
    if account_id != OTHER_ACCOUNT_ID:
        accounts.append({"account_id": OTHER_ACCOUNT_ID, "api_key": OTHER_API_KEY, "max_nodes": 10})
    return accounts


def seed_packages(account_id: str = DEFAULT_ACCOUNT_ID) -> list[dict[str, Any]]:
    """Return the seed packages (101-104 in the demo account, 201 in ``other``)."""
    packages: list[dict[str, Any]] = [
        {
            "account_id": account_id,
            "id": 101,
            "name": "load_customers",
            "description": "Load the customer list",
            "flow_type": "dataflow",
            "variables": {"InputPath": "'/customers'"},
            "outputs": _outputs("customers_clean"),
        },
        {
            "account_id": account_id,
            "id": 102,
            "name": "enrich_orders",
            "description": "Join orders with customers",
            "flow_type": "dataflow",
            "variables": {"InputPath": "'/orders'", "OutputPath": "'/orders_enriched'"},
            "outputs": _outputs("orders_enriched"),
        },
        {
            "account_id": account_id,
            "id": 103,
            "name": "daily_rollup",
            "description": "Daily rollup of the input files (the seed workflow package)",
            "flow_type": "dataflow",
            "variables": {"InputPath": "'/input'", "OutputPath": "'/output'"},
            "outputs": _outputs("daily_rollup", "daily_rollup_rejects"),
        },
        {
            "account_id": account_id,
            "id": 104,
            "name": "legacy_export",
            "description": "Old export, archived",
            "flow_type": "dataflow",
            "status": "archived",
            "variables": {"OutputPath": "'/legacy'"},
            "outputs": _outputs("legacy_export"),
        },
    ]
    if account_id != OTHER_ACCOUNT_ID:
        packages.append(
            {
                "account_id": OTHER_ACCOUNT_ID,
                "id": 201,
                "name": "other_account_package",
                "description": "Visible only to account other",
                "flow_type": "dataflow",
                "variables": {"InputPath": "'/other'"},
                "outputs": _outputs("other_output"),
            }
        )
    return packages

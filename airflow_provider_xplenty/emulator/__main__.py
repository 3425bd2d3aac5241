"""Command line: ``python -m airflow_provider_xplenty.emulator --port 8999 --api-key KEY --speed 1``.

Needs the ``emulator`` extra (FastAPI, uvicorn); without it, says so and exits with status 1.
"""

from __future__ import annotations

import argparse
import logging
import sys

from airflow_provider_xplenty.emulator import missing_extra_message
from airflow_provider_xplenty.emulator.seed import DEFAULT_ACCOUNT_ID, DEFAULT_API_KEY
from airflow_provider_xplenty.emulator.state import Store


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI parser."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_xplenty.emulator",
        description="Run the local Xplenty API emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8999, help="port (default 8999; 0 picks a free one)")
    parser.add_argument("--account-id", default=DEFAULT_ACCOUNT_ID, help="slug of the seeded account")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="API key of the seeded account")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="emulated seconds per real second (0 = frozen clock)"
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument("--access-log", action="store_true", help="log every request (slower)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted (exit status 1 without the ``emulator`` extra)."""
    args = build_parser().parse_args(argv)
    try:
        import uvicorn

        from airflow_provider_xplenty.emulator.app import create_app
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1
    if args.speed < 0:
        print("--speed must be >= 0", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = Store(account_id=args.account_id, api_key=args.api_key, speed=args.speed)
    app = create_app(store)
    print(
        f"Xplenty emulator: http://{args.host}:{args.port}/{args.account_id}/api "
        f"(API key {args.api_key!r}, speed x{args.speed:g}); control routes under /_emulator/",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

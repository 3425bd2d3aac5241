"""Make the chaos suite's modules (``scripts/chaos.py`` and its ``_chaos_*`` helpers) importable."""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))

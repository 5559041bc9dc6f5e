"""Small helpers shared by the benchmark scripts (timing, statistics, verdict lines).

The scripts run as ``python bench/<name>.py`` from the repository root; Python
puts ``bench/`` on ``sys.path``, so ``import _common`` works without a package.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"  # git-ignored: generated trees and catalogues

RESULT_PREFIX = "BENCH-RESULT "
"""Each script prints one line starting with this, then JSON, for ``run_all.py``."""


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100), the definition most latency reports use."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def verdict(name: str, ok: bool, detail: str) -> str:
    line = f"{'PASS' if ok else 'FAIL'}: {name}: {detail}"
    print(line, flush=True)
    return line


def emit_result(payload: dict[str, object]) -> None:
    print(RESULT_PREFIX + json.dumps(payload, default=str), flush=True)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def venv_bin(name: str) -> Path:
    """A console script next to the running interpreter (the project's virtualenv)."""
    here = Path(sys.executable).parent
    candidate = here / name
    if candidate.exists():
        return candidate
    return REPO_DIR / ".venv" / "bin" / name


def ensure_data_dir() -> Path:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    return DATA_DIR


def machine_line() -> str:
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pid {os.getpid()}"

"""How long the series takes to run headless: `make bench-series` (RUNS=2 by default).

Runs every notebook of the series in a fresh kernel, as `make html` and the tests do, RUNS times
in turn, and prints each notebook's fastest run, its slowest cells and the series' total against
the budget a lab needs: each notebook under 15 s and the series under 60 s (issue 24). It fails
if a notebook or the series misses its budget.

The fastest run is the one least disturbed by other programs; run it on a quiet machine. The
kernel's start and its imports (PyTorch, matplotlib) are part of every notebook's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat

from tools.series import NOTEBOOK_DIR, cell_name, execute, notebook_paths

NOTEBOOK_BUDGET, SERIES_BUDGET = 15.0, 60.0  # seconds


def cell_seconds(path: Path, nb: nbformat.NotebookNode) -> list[tuple[float, str]]:
    """(seconds, name) of every executed code cell of ``nb`` (run from ``path``), from nbclient's
    timestamps; a cell is named as in every message of the project (``tools.series.cell_name``)."""
    timed = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.metadata.get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in stamps:
            start, end = (
                datetime.fromisoformat(stamps[k]) for k in ("iopub.execute_input", "shell.execute_reply")
            )
            timed.append(((end - start).total_seconds(), cell_name(path, index, cell)))
    return timed


def time_series(paths: list[Path], runs: int) -> dict[Path, tuple[float, nbformat.NotebookNode]]:
    """Each notebook's fastest headless run, in seconds, and the notebook that run executed."""
    best: dict[Path, tuple[float, nbformat.NotebookNode]] = {}
    for _ in range(runs):
        for path in paths:  # in turn, so that a slow spell of the machine does not hit one notebook
            start = time.perf_counter()
            nb = execute(path)
            seconds = time.perf_counter() - start
            if path not in best or seconds < best[path][0]:
                best[path] = (seconds, nb)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=2, help="runs of the series; each notebook's fastest counts"
    )
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR, help="folder of the series")
    parser.add_argument("--cells", type=int, default=3, help="slowest cells shown per notebook")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    best = time_series(notebook_paths(args.notebooks), args.runs)
    missed = []
    for path, (seconds, nb) in best.items():
        verdict = "ok" if seconds < NOTEBOOK_BUDGET else "OVER"
        print(f"{path.name:40} {seconds:6.1f} s  (budget {NOTEBOOK_BUDGET:.0f} s: {verdict})")
        for cell_time, name in sorted(cell_seconds(path, nb), reverse=True)[: args.cells]:
            print(f"    {cell_time:5.1f} s  {name[:90]}")
        if seconds >= NOTEBOOK_BUDGET:
            missed.append(path.name)
    total = sum(seconds for seconds, _ in best.values())
    verdict = "ok" if total < SERIES_BUDGET else "OVER"
    print(f"{'the series':40} {total:6.1f} s  (budget {SERIES_BUDGET:.0f} s: {verdict})")
    if total >= SERIES_BUDGET:
        missed.append("the series")
    if missed:
        print(f"Over budget: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

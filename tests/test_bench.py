"""benchmarks/bench_conv.py --quick runs, so the benchmark cannot rot: a table, sane numbers, a plot.

No time target is asserted here: on a shared machine a timed test would fail at random.
"""

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.bench_conv import benchmark

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_conv.py"
NUMPY_VERSIONS = ["utils.conv2d_im2col", "utils.conv2d_per_offset"]
TORCH_VERSIONS = ["seed post: unfold+matmul+view", "F.conv2d"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, pd.read_csv(out / "bench_conv.csv"), out / "bench_conv.png"


def test_the_table_has_every_implementation_on_every_case(quick_run):
    _, table, _ = quick_run
    pairs = set(zip(table["implementation"], table["case"], strict=True))
    expected = {(name, case) for name in NUMPY_VERSIONS + TORCH_VERSIONS for case in "abc"}
    expected.add(("utils.conv2d_naive", "a"))  # the loops only on the tiny case
    assert pairs == expected
    assert len(table) == len(expected)
    # What the issue asks the table to show: implementation, shape, median and min time,
    # GFLOP/s, ratio to F.conv2d, peak memory (and the cols+output yardstick it is judged by).
    for column in ("implementation", "case", "median_ms", "min_ms", "gflop_s", "x_conv2d", "peak_MB"):
        assert column in table.columns, column
    assert table.columns.is_unique


def test_the_numbers_are_sane(quick_run):
    _, table, _ = quick_run
    assert (table["min_ms"] > 0).all() and (table["min_ms"] <= table["median_ms"]).all()
    assert all(math.isfinite(v) and v > 0 for v in table["gflop_s"])
    reference = table[table["implementation"] == "F.conv2d"]
    assert (reference["x_conv2d"] == 1.0).all()
    # GFLOP/s is the case's work over the median time, the same for every row of a case.
    work = table["gflop_s"] * table["median_ms"]
    for case, rows in work.groupby(table["case"]):
        assert rows.max() == pytest.approx(rows.min(), rel=1e-9), case


def test_memory_is_measured_for_numpy_and_marked_missing_for_torch(quick_run):
    _, table, _ = quick_run
    numpy_rows = table[table["implementation"].isin(NUMPY_VERSIONS)]
    assert (numpy_rows["peak_MB"] > 0).all()
    assert table[table["implementation"].isin(TORCH_VERSIONS)]["peak_MB"].isna().all()
    im2col = table[table["implementation"] == "utils.conv2d_im2col"]
    # conv2d_im2col builds its column matrix a block at a time: never more than all of it
    # plus the output (the memory target).
    assert (im2col["peak_MB"] <= 1.25 * im2col["cols_out_MB"]).all()
    per_offset = table[table["implementation"] == "utils.conv2d_per_offset"]
    assert (per_offset["peak_MB"].to_numpy() < im2col["peak_MB"].to_numpy()).all()


def test_the_targets_are_reported_and_the_plot_is_saved(quick_run):
    stdout, _, png = quick_run
    assert "Targets of utils.conv2d_im2col" in stdout
    for case in "bc":
        line = next(line for line in stdout.splitlines() if line.strip().startswith(f"case {case}:"))
        assert line.count("met") == 2  # one verdict for time, one for memory
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


# --- the timer: every function in turn, in blocks, round after round ---------------------------


def test_benchmark_calls_each_function_number_times_per_round():
    calls = {"a": 0, "b": 0}
    order = []

    def count(name):
        calls[name] += 1
        order.append(name)

    table = benchmark({"a": lambda: count("a"), "b": lambda: count("b")}, repeats=2, number=3)
    assert calls == {"a": 7, "b": 7}  # one warm-up call, then 3 per round
    assert "".join(order) == "ab" + "aaabbb" * 2  # alternating blocks
    assert list(table.columns) == ["median_ms", "min_ms"]
    assert (table["min_ms"] <= table["median_ms"]).all()


BAD_COUNTS = [("repeats", 0), ("number", 0), ("number", 1.5), ("repeats", True)]


@pytest.mark.parametrize("argument, value", BAD_COUNTS)
def test_benchmark_rejects_bad_counts(argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be an integer >= 1"):
        benchmark({"a": lambda: None}, **{argument: value})


def test_benchmark_ratio_to_a_baseline_is_taken_round_by_round():
    functions = {"fast": lambda: None, "sum": lambda: sum(range(20_000))}
    table = benchmark(functions, repeats=5, baseline="sum")
    assert list(table.columns) == ["median_ms", "min_ms", "ratio"]
    assert table.loc["sum", "ratio"] == 1.0
    assert 0 < table.loc["fast", "ratio"] < 1
    with pytest.raises(ValueError, match=r"baseline must be one of the names \['a'\], got 'b'"):
        benchmark({"a": lambda: None}, baseline="b")


def test_benchmark_times_every_function_in_milliseconds():
    calls = {"a": 0, "b": 0}

    def count(name):
        calls[name] += 1

    table = benchmark({"a": lambda: count("a"), "b": lambda: count("b")}, repeats=3)
    assert list(table.index) == ["a", "b"]
    assert calls == {"a": 4, "b": 4}  # one warm-up call, then one per round
    assert (table["min_ms"] <= table["median_ms"]).all() and (table["min_ms"] >= 0).all()

"""benchmarks/bench_conv.py --quick runs, so the benchmark cannot rot: a table, sane numbers, a plot.

No time target is asserted here: on a shared machine a timed test would fail at random.
"""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from benchmarks import bench_conv
from benchmarks.bench_conv import benchmark

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_conv.py"
NUMPY_VERSIONS = ["utils.conv2d_im2col", "conv2d_blocked"]
TORCH_VERSIONS = [bench_conv.UNFOLD, "F.conv2d"]


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
    expected = {
        (name, case) for name in [*NUMPY_VERSIONS, bench_conv.GEMM, *TORCH_VERSIONS] for case in "abc"
    }
    expected.add(("utils.conv2d_naive", "a"))  # the loops only on the tiny case
    assert pairs == expected
    assert len(table) == len(expected)
    # What the issue asks the table to show: implementation, shape, median and min time,
    # GFLOP/s, ratio to F.conv2d, peak memory; and the yardsticks of the targets: the ratio to
    # the GEMM alone, the column matrix + output.
    columns = ("implementation", "case", "median_ms", "min_ms", "gflop_s", "x_gemm", "x_conv2d", "peak_MB")
    for column in (*columns, "cols_out_MB"):
        assert column in table.columns, column
    assert table.columns.is_unique


def test_the_numbers_are_sane(quick_run):
    _, table, _ = quick_run
    assert (table["min_ms"] > 0).all() and (table["min_ms"] <= table["median_ms"]).all()
    assert all(math.isfinite(v) and v > 0 for v in table["gflop_s"])
    assert (table[table["implementation"] == "F.conv2d"]["x_conv2d"] == 1.0).all()
    gemm = table[table["implementation"] == bench_conv.GEMM]
    assert (gemm["x_gemm"] == 1.0).all() and (gemm["x_gemm_min"] == 1.0).all()
    # GFLOP/s is the case's work over the median time, the same for every row of a case.
    work = table["gflop_s"] * table["median_ms"]
    for case, rows in work.groupby(table["case"]):
        assert rows.max() == pytest.approx(rows.min(), rel=1e-9), case


def test_memory_is_measured_for_numpy_and_marked_missing_for_torch(quick_run):
    _, table, _ = quick_run
    numpy_rows = table[table["implementation"].isin(NUMPY_VERSIONS)]
    assert (numpy_rows["peak_MB"] > 0).all()
    not_seen = [*TORCH_VERSIONS, bench_conv.GEMM]  # the GEMM's columns are built before the call
    assert table[table["implementation"].isin(not_seen)]["peak_MB"].isna().all()
    plain = table[table["implementation"] == "utils.conv2d_im2col"]
    # The plain im2col holds the whole column matrix and the output, and little else.
    assert (plain["peak_MB"] >= plain["cols_out_MB"]).all()
    assert (plain["peak_MB"] <= 1.25 * plain["cols_out_MB"]).all()
    # The blocked one holds one block of columns: never more, and less once the batch needs
    # several blocks (case c, even in quick mode's 4 images).
    blocked = table[table["implementation"] == "conv2d_blocked"]
    assert (blocked["peak_MB"].to_numpy() <= 1.05 * plain["peak_MB"].to_numpy()).all()
    assert blocked["peak_MB"].iloc[-1] < plain["peak_MB"].iloc[-1]


def test_the_targets_are_reported_and_the_plot_is_saved(quick_run):
    stdout, _, png = quick_run
    assert "Targets of conv2d_blocked" in stdout
    for case in "bc":
        line = next(line for line in stdout.splitlines() if line.strip().startswith(f"case {case}:"))
        assert line.count("met") == 2  # one verdict for time, one for memory
        assert "x its GEMM alone, fastest " in line and "F.conv2d for information" in line
    assert "seed post" not in stdout and "the post" not in stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000


# --- the timer: every function in turn, round after round -------------------------------------


def test_benchmark_times_each_function_and_its_ratio_to_the_baseline_round_by_round():
    calls = {"fast": 0, "sum": 0}

    def count(name):
        calls[name] += 1
        return sum(range(20_000)) if name == "sum" else None

    functions = {name: (lambda name=name: count(name)) for name in calls}
    table = benchmark(functions, repeats=5, number=3, baselines={"x_sum": "sum", "x_fast": "fast"})
    assert list(table.index) == ["fast", "sum"]
    assert list(table.columns) == ["median_ms", "min_ms", "x_sum", "x_fast"]
    assert (table["min_ms"] <= table["median_ms"]).all() and (table["min_ms"] > 0).all()
    assert table.loc["sum", "x_sum"] == 1.0 and 0 < table.loc["fast", "x_sum"] < 1
    assert table.loc["fast", "x_fast"] == 1.0 and table.loc["sum", "x_fast"] > 1
    assert calls["fast"] == calls["sum"] >= 1 + 5 * 3  # a warm-up, then 3 calls in each of 5 rounds


def test_the_blocked_convolution_is_f_conv2d_for_any_block_size(monkeypatch):
    """One image per block, three per block (7 is not a multiple of 3), all in one block."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((7, 2, 6, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()
    for block_bytes in [1, 3 * 2 * 9 * 30 * 4, 2**40]:  # 30 output positions of 18 float32 each
        monkeypatch.setattr(bench_conv, "COLUMN_BLOCK_BYTES", block_bytes)
        np.testing.assert_allclose(
            bench_conv.conv2d_blocked(x, w, b, padding=1), expected, rtol=1e-5, atol=1e-5
        )


def test_the_gemm_alone_is_the_blocked_convolutions_multiplies(monkeypatch):
    """The yardstick runs the very multiplies of conv2d_blocked: same operands, same order."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 2, 6, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    monkeypatch.setattr(bench_conv, "COLUMN_BLOCK_BYTES", 3 * 19 * 30 * 4)  # 3 images a block
    calls = {"blocked": [], "alone": []}
    multiply = bench_conv.multiply

    def record(into):
        def recorded(w_rows, cols, result):
            into.append((w_rows.copy(), cols.copy(), result.shape, result.dtype))
            return multiply(w_rows, cols, result)

        return recorded

    monkeypatch.setattr(bench_conv, "multiply", record(calls["alone"]))
    gemm = bench_conv.gemm_alone(x, w, b, padding=1)
    calls["alone"].clear()  # building the columns beforehand multiplies nothing; be sure
    gemm()
    monkeypatch.setattr(bench_conv, "multiply", record(calls["blocked"]))
    bench_conv.conv2d_blocked(x, w, b, padding=1)
    assert [c[1].shape for c in calls["blocked"]] == [(19, 90), (19, 90), (19, 30)]  # 3 + 3 + 1 images
    assert len(calls["alone"]) == len(calls["blocked"])
    for alone, blocked in zip(calls["alone"], calls["blocked"], strict=True):
        np.testing.assert_array_equal(alone[0], blocked[0])
        np.testing.assert_array_equal(alone[1], blocked[1])
        assert alone[2:] == blocked[2:]


def row(case, x_gemm, x_gemm_min, peak_mb, cols_out_mb=10.0):
    return {
        "case": case,
        "implementation": "conv2d_blocked",
        "x_gemm": x_gemm,
        "x_gemm_min": x_gemm_min,
        "x_conv2d": 4.0,
        "peak_MB": peak_mb,
        "cols_out_MB": cols_out_mb,
    }


def test_a_miss_of_either_target_is_reported_as_not_met():
    table = pd.DataFrame([row("b", 1.29, 1.25, 12.4), row("c", 1.31, 1.2, 12.6)])
    case_b, case_c = bench_conv.check_targets(table)
    assert "time 1.29x its GEMM alone, fastest 1.25x (target <= 1.3x: met;" in case_b
    assert "(target <= 1.25x: met)" in case_b
    assert "time 1.31x its GEMM alone, fastest 1.20x (target <= 1.3x: NOT met;" in case_c
    assert "= 1.26x column matrix + output" in case_c and "(target <= 1.25x: NOT met)" in case_c


def test_the_time_target_needs_the_fastest_times_too():
    """A busy machine slows the two-thread GEMM more than the copies: the median can flatter."""
    (case_b, _) = bench_conv.check_targets(pd.DataFrame([row("b", 1.02, 1.6, 3.0), row("c", 1.0, 1.0, 3.0)]))
    assert "time 1.02x its GEMM alone, fastest 1.60x (target <= 1.3x: NOT met;" in case_b

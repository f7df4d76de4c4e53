"""Notebook 05, what im2col costs: it runs clean, its memory, FLOPs, speed and rounding numbers, its
exercises' checks (planted mistakes named, the answers never given)."""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import re

import numpy as np
import pytest
import torch

import notebook_checks as checks

NOTEBOOK = "05_im2col_cost"


# --- the notebook's numbers ---------------------------------------------------------------------


def rows(notebook, table: str) -> dict[str, dict]:
    """A DataFrame of the notebook as {index: {column: value}}."""
    return notebook.value(f"{table}.to_dict('index')")


def test_the_input_and_the_layer_have_notebook_04s_shapes(notebook):
    assert notebook.value("list(x.shape)") == [1, 3, 32, 32]
    assert notebook.value("list(w4.shape)") == [4, 3, 5, 5] and notebook.value("list(b4.shape)") == [4]
    assert [notebook.value("height_out"), notebook.value("width_out")] == [28, 28]


def test_the_memory_table_shows_the_k_squared_blow_up(notebook):
    memory = rows(notebook, "memory")
    assert memory["test image 0"]["column matrix shape"] == [1, 75, 784]
    assert memory["a batch of 32"]["column matrix shape"] == [32, 75, 784]
    assert memory["a batch of 32"]["input KiB"] == 32 * 3 * 32 * 32 * 4 / 1024
    for row in memory.values():
        assert row["ratio"] == pytest.approx(25 * 784 / 1024)


def test_the_blocked_and_per_offset_versions_hold_far_less_memory_than_the_column_matrix(notebook):
    whole, blocked, per_offset = (
        row["peak MiB"] * 2**20 for row in rows(notebook, "peaks").values()
    )  # bytes
    image_columns = 75 * 784 * 4  # one image's columns, float32 bytes
    output = 32 * 4 * 784 * 4  # the output (32, 4, 28, 28)
    # im2col holds the whole (32, 75, 784) column matrix: at least that, and little more.
    assert 32 * image_columns <= whole <= 1.01 * (32 * image_columns + 32 * 3 * 32 * 32 * 4)
    # conv2d_in_blocks holds one block's columns (4 images) and the output.
    block_and_output = 4 * image_columns + output
    assert block_and_output <= blocked <= 1.25 * block_and_output
    # conv2d_per_offset holds the output and what one kernel offset meets: no column matrix.
    assert output <= per_offset <= 0.25 * whole


def test_the_flop_and_intensity_table_follows_the_formula(notebook):
    costs = rows(notebook, "costs")
    expected = [  # (N, C, K, H_out, k, groups, values moved)
        (1, 3, 4, 28, 5, 1, 3 * 32 * 32 + 4 * 3 * 25 + 4 * 28 * 28),
        (8, 64, 64, 32, 3, 1, 8 * 64 * 1024 * 2 + 64 * 64 * 9),
        (8, 64, 64, 32, 1, 1, 8 * 64 * 1024 * 2 + 64 * 64),
        (8, 64, 64, 32, 3, 64, 8 * 64 * 1024 * 2 + 64 * 9),
    ]
    for row, (n, c, k_out, out, k, groups, moved) in zip(costs.values(), expected, strict=True):
        flops = 2 * n * k_out * out * out * (c // groups) * k * k
        assert row["MFLOP"] == pytest.approx(flops / 1e6)
        assert row["FLOP per byte"] == pytest.approx(flops / (4 * moved))
    assert list(costs.values())[1]["MFLOP"] == pytest.approx(603.979776)


def test_the_speed_tables_time_the_ways_in_repeated_blocks_and_give_gflops(notebook):
    post_flops, big_flops = (row["MFLOP"] * 1e6 for row in list(rows(notebook, "costs").values())[:2])
    timings = rows(notebook, "timings")
    assert list(timings) == [
        "Python loop (1 image)",
        "NumPy im2col",
        "NumPy per offset",
        "PyTorch unfold + matmul",
        "F.conv2d",
    ]
    for row in timings.values():
        assert 0 < row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        assert row["ms per image"] == pytest.approx(row["median_ms"] / row["images"])
        assert row["GFLOP/s"] == pytest.approx(post_flops / (row["ms per image"] * 1e-3) / 1e9)
    big = rows(notebook, "big_timings")
    assert list(big) == list(timings)[1:]  # the same ways, the loop left out
    for row in big.values():
        assert 0 < row["q1_ms"] <= row["median_ms"] <= row["q3_ms"]
        assert row["GFLOP/s"] == pytest.approx(big_flops / (row["median_ms"] * 1e-3) / 1e9)
    # Enough blocks for a spread: 11 and 9 repeats, not one block.
    source = next(c.source for c in notebook.nb.cells if "def time_ways" in c.source)
    assert "repeats: int = 11" in source and "time_ways(big_ways, repeats=9)" in "".join(
        c.source for c in notebook.nb.cells
    )


def test_every_printed_comparison_is_computed_from_its_table(notebook):
    text = checks.printed(notebook.nb, "def times(table")
    tables = {
        "notebook 04's layer, per image:": ("timings", "ms per image"),
        "the realistic layer:": ("big_timings", "median_ms"),
    }
    table = None
    for line in text.splitlines():
        if line in tables:
            table = rows(notebook, tables[line][0])
            column = tables[line][1]
            continue
        way, other = re.fullmatch(r"  (.*) takes \S+ times as long as (.*)", line).groups()
        ratio = float(re.search(r"takes (\S+) times", line)[1])
        assert ratio == pytest.approx(table[way][column] / table[other][column], rel=1e-2), line
    assert table is not None


def test_the_roofline_classifies_the_layers_by_the_measured_ridge(notebook):
    peak, bandwidth, ridge = (notebook.value(name) for name in ("peak_gflops", "bandwidth_gbs", "ridge"))
    assert peak > 0 and bandwidth > 0 and ridge == pytest.approx(peak / bandwidth)
    costs, roofline = rows(notebook, "costs"), rows(notebook, "roofline")
    assert list(roofline) == list(costs)
    for name, row in roofline.items():
        expected = "memory" if costs[name]["FLOP per byte"] < ridge else "arithmetic"
        assert row["limited by"] == expected
    assert f"ridge point: {ridge:.1f} FLOP per byte" in checks.printed(notebook.nb, "peak_gflops = ")


def test_what_libraries_do_winograd_numbers(notebook):
    winograd = notebook.value("winograd")
    assert winograd["F(2x2, 3x3)"] == 2.25 and winograd["F(4x4, 3x3)"] == 4
    assert notebook.value("direct_growth")["11"] == pytest.approx(121 / 9)


def test_the_deep_layers_column_matrix_is_nine_times_its_input(notebook):
    assert notebook.value("deep_input_mib") == 128 * 64 * 56 * 56 * 4 / 2**20
    assert notebook.value("deep_columns_mib") == pytest.approx(9 * notebook.value("deep_input_mib"))


def test_filter_0_differs_between_conv2d_and_im2col_by_float32_rounding(notebook):
    max_diff = notebook.value("max_diff")
    assert 0 < max_diff < 1e-6
    conv, im2col = (np.array(notebook.value(f"{name}.tolist()")) for name in ("conv_output", "im2col_output"))
    assert conv.shape == (1, 1, 28, 28) and np.abs(conv - im2col).max() == pytest.approx(max_diff)
    assert notebook.value("list(cols.shape)") == [1, 75, 784]
    assert notebook.value("list(weight_row.shape)") == [75]


def test_the_order_of_the_sum_changes_the_last_digits(notebook):
    text = checks.printed(notebook.nb, "np.cumsum")
    found = dict(re.findall(r"(float\d\d): the order changes \d+% of the sums, by up to (\S+)", text))
    assert 0 < float(found["float32"]) < 1e-6
    assert 0 <= float(found["float64"]) < 1e-14


def test_float64_brings_the_difference_down_to_about_1e_16(notebook):
    assert notebook.value("max_diff64") < 1e-12
    assert notebook.value("max_diff64") < notebook.value("max_diff") / 1e6


def test_the_rounding_differences_are_within_the_bound(notebook):
    precision = rows(notebook, "precision")
    n_terms = notebook.value("n_terms")
    assert n_terms == 76
    for dtype in ("float32", "float64"):
        ratio = precision[dtype]["max |difference| / (u sum|w x|)"]
        assert 0 <= ratio <= 2 * n_terms  # the worst-case bound for two sums
        assert ratio <= n_terms**0.5  # what the text says: sqrt(n) or less
    assert precision["float32"]["max |difference| / (u sum|w x|)"] > 0  # float32 does round differently


def test_the_cudnn_settings_are_printed_as_pytorch_has_them(notebook):
    text = checks.printed(notebook.nb, "def winograd_saving")
    assert f"benchmark = {torch.backends.cudnn.benchmark} by default" in text
    assert f"benchmark_limit = {torch.backends.cudnn.benchmark_limit}" in text


# --- the exercises: planted mistakes ------------------------------------------------------------

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
PLANTED = [
    (
        "ex1a-check",
        "def bound_by(flops, bytes_moved, peak_gflops, bandwidth_gbs):\n    return 'compute' if flops / bytes_moved < peak_gflops / bandwidth_gbs else 'memory'",
        "the other way round",
    ),
    (
        "ex1a-check",
        "def bound_by(flops, bytes_moved, peak_gflops, bandwidth_gbs):\n    return flops / bytes_moved < peak_gflops / bandwidth_gbs",
        "expected a string",
    ),
    (
        "ex1a-check",
        "def bound_by(flops, bytes_moved, peak_gflops, bandwidth_gbs):\n    return 'Memory' if flops / bytes_moved < peak_gflops / bandwidth_gbs else 'Compute'",
        "not the right answer",
    ),
    (
        "ex1b-check",
        "def roofline_fraction(measured_gflops, flops, bytes_moved, peak_gflops, bandwidth_gbs):\n    return measured_gflops / peak_gflops",
        "measured against the peak alone",
    ),
    (
        "ex1b-check",
        "def roofline_fraction(measured_gflops, flops, bytes_moved, peak_gflops, bandwidth_gbs):\n    return 100 * measured_gflops / min(peak_gflops, flops / bytes_moved * bandwidth_gbs)",
        "a percentage",
    ),
    (
        "ex2-check",
        "def winograd_f23(d, g):\n    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]",
        "that is the direct method",
    ),
    (
        "ex2-check",
        "def winograd_f23(d, g):\n    return list(np.correlate(d, g))",
        "which is a convolution routine",
    ),
    (
        "ex2-check",
        "def winograd_f23(d, g):\n    return [d[0] * g[2] + d[1] * g[1] + d[2] * g[0], d[1] * g[2] + d[2] * g[1] + d[3] * g[0]]",
        "a true convolution",
    ),
    (
        "ex2-check",
        "def winograd_f23(d, g):\n    d = [float(v) for v in d]\n    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]",
        "turned an item into a plain float",
    ),
]

SECRETS = {"ex1a-check": [r"'compute'|'memory'"]}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""

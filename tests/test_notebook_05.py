"""Notebook 05 (what im2col costs): memory, FLOPs, speed and rounding, read from the executed notebook.

The tests read the notebook's own variables from one headless run (the ``executed`` fixture).
"""

import re

import numpy as np
import pytest

import utils

STEM = "05_im2col_cost"


@pytest.fixture(scope="module")
def run(executed):
    return executed(STEM)


def test_the_input_and_the_layer_have_the_posts_shapes(run):
    _, values = run
    assert np.shape(values["x"]) == (1, 3, 32, 32)
    assert np.shape(values["w4"]) == (4, 3, 5, 5) and np.shape(values["b4"]) == (4,)
    assert [values["height_out"], values["width_out"]] == [28, 28]


def test_the_memory_table_shows_the_k_squared_blow_up(run):
    _, values = run
    table = values["memory"]
    columns = table["columns"]
    rows = {
        name: dict(zip(columns, row, strict=True))
        for name, row in zip(table["index"], table["data"], strict=True)
    }
    assert rows["the post's image"]["column matrix shape"] == [1, 75, 784]
    assert rows["a batch of 32"]["column matrix shape"] == [32, 75, 784]
    assert rows["a batch of 32"]["input KiB"] == 32 * 3 * 32 * 32 * 4 / 1024
    for row in rows.values():
        assert row["ratio"] == pytest.approx(25 * 784 / 1024)


def test_the_blocked_and_per_offset_versions_hold_far_less_memory_than_the_column_matrix(run):
    _, values = run
    whole, blocked, per_offset = (row[0] * 2**20 for row in values["peaks"]["data"])  # bytes
    image_columns = 75 * 784 * 4  # one image's columns, float32 bytes
    output = 32 * 4 * 784 * 4  # the output (32, 4, 28, 28)
    # im2col holds the whole (32, 75, 784) column matrix: at least that, and little more.
    assert 32 * image_columns <= whole <= 1.01 * (32 * image_columns + 32 * 3 * 32 * 32 * 4)
    # conv2d_im2col holds one block of columns and the output.
    block_and_output = utils.COLUMN_BLOCK_BYTES // image_columns * image_columns + output
    assert block_and_output <= blocked <= 1.25 * block_and_output
    assert blocked < whole / 2 and per_offset < whole / 4


def rows_of(table) -> dict[str, dict]:
    """A DataFrame from the snapshot (pandas' "split" form) as {index: {column: value}}."""
    return {
        name: dict(zip(table["columns"], row, strict=True))
        for name, row in zip(table["index"], table["data"], strict=True)
    }


def test_the_flop_and_intensity_table_follows_the_formula(run):
    _, values = run
    costs = rows_of(values["costs"])
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


def test_the_speed_tables_time_the_ways_and_give_gflops(run):
    _, values = run
    costs = rows_of(values["costs"])
    post_flops, big_flops = (row["MFLOP"] * 1e6 for row in list(costs.values())[:2])
    timings = rows_of(values["timings"])
    assert len(timings) == 5 and any("conv2d_per_offset" in name for name in timings)
    for row in timings.values():
        assert row["median_ms"] > 0 and row["ms per image"] == pytest.approx(row["median_ms"] / row["images"])
        assert row["GFLOP/s"] == pytest.approx(post_flops / (row["ms per image"] * 1e-3) / 1e9)
    big = rows_of(values["big_timings"])
    assert list(big) == [
        "NumPy im2col (conv2d_im2col)",
        "NumPy per offset (conv2d_per_offset)",
        "PyTorch unfold + matmul",
        "F.conv2d",
    ]
    for row in big.values():
        assert row["GFLOP/s"] == pytest.approx(big_flops / (row["median_ms"] * 1e-3) / 1e9)


def test_what_libraries_do_winograd_numbers(run):
    _, values = run
    assert values["winograd"]["F(2x2, 3x3)"] == 2.25 and values["winograd"]["F(4x4, 3x3)"] == 4
    assert values["direct_growth"]["11"] == pytest.approx(121 / 9)


def test_the_deep_layers_column_matrix_is_nine_times_its_input(run):
    _, values = run
    assert values["deep_input_mib"] == 128 * 64 * 56 * 56 * 4 / 2**20
    assert values["deep_columns_mib"] == pytest.approx(9 * values["deep_input_mib"])


def test_filter_0_differs_between_conv2d_and_im2col_by_float32_rounding(run):
    _, values = run
    assert 0 < values["max_diff"] < 1e-6
    conv, im2col = np.array(values["conv_output"]), np.array(values["im2col_output"])
    assert conv.shape == (1, 1, 28, 28) and np.abs(conv - im2col).max() == pytest.approx(values["max_diff"])
    assert np.shape(values["cols"]) == (1, 75, 784) and np.shape(values["weight_row"]) == (75,)


def test_the_order_of_the_sum_changes_the_last_digits(run):
    nb, _ = run
    cell = next(c for c in nb.cells if c.cell_type == "code" and "np.cumsum" in c.source)
    text = "".join(out.get("text", "") for out in cell.outputs)
    found = dict(re.findall(r"(float\d\d): the order changes \d+% of the sums, by up to (\S+)", text))
    assert 0 < float(found["float32"]) < 1e-6
    assert 0 <= float(found["float64"]) < 1e-14


def test_float64_brings_the_difference_down_to_about_1e_16(run):
    _, values = run
    assert values["max_diff64"] < 1e-12
    assert values["max_diff64"] < values["max_diff"] / 1e6


def test_the_rounding_differences_are_within_the_bound(run):
    _, values = run
    # pandas' JSON keeps 10 decimals: tiny numbers are checked through their ratios, of order 1.
    table = rows_of(values["precision"])
    assert values["n_terms"] == 76
    for dtype in ("float32", "float64"):
        ratio = table[dtype]["max |difference| / (u sum|w x|)"]
        assert 0 <= ratio <= 2 * values["n_terms"]  # the worst-case bound for two sums
        assert ratio <= values["n_terms"] ** 0.5  # what the text says: sqrt(n) or less
    assert table["float32"]["max |difference| / (u sum|w x|)"] > 0  # float32 does round differently


def test_the_tf32_cell_says_what_it_shows(run):
    nb, _ = run
    cell = next(c for c in nb.cells if c.cell_type == "code" and "torch.cuda.is_available()" in c.source)
    text = "".join(out.get("text", "") for out in cell.outputs)
    assert "No CUDA GPU" in text or "cuDNN precision" in text

"""Notebook 04 (im2col versus nn.Conv2d): the seed post's numbers, read from the executed notebook.

The tests read the notebook's own variables from one headless run (the ``executed`` fixture).
"""

import numpy as np
import pytest

import utils

STEM = "04_im2col_vs_conv2d"
POST_FIRST_ROW = [-0.0445, 0.0310, -0.0023, 0.0916, -0.0102]  # printed in the seed post


@pytest.fixture(scope="module")
def run(executed):
    return executed(STEM)


def test_the_layer_has_the_seed_posts_weights(run):
    _, values = run
    assert [round(v, 4) for v in values["first_row"]] == POST_FIRST_ROW
    assert [round(v, 4) for v in np.array(values["w"])[0, 0, 0]] == POST_FIRST_ROW


def test_the_four_shapes_are_the_seed_posts(run):
    _, values = run
    assert values["w_shape"] == [1, 3, 5, 5]
    assert values["inp_unf_shape"] == [1, 75, 784]
    assert values["out_unf_shape"] == [1, 1, 784]
    assert values["out_shape"] == [1, 1, 28, 28]
    assert [values["height_out"], values["width_out"]] == [28, 28]


def test_im2col_matches_conv2d_to_float32_rounding(run):
    _, values = run
    assert 0 <= values["max_diff"] < 1e-5
    conv, im2col = np.array(values["conv_output"]), np.array(values["im2col_output"])
    assert np.abs(conv - im2col).max() == pytest.approx(values["max_diff"])
    assert np.abs(conv).max() > 0.1  # a real output, not zeros
    assert 0 <= values["max_diff4"] < 1e-5
    assert np.array(values["im2col4"]).shape == (1, 4, 28, 28)


def test_float64_brings_the_difference_down_to_about_1e_16(run):
    _, values = run
    assert values["max_diff64"] < 1e-12
    assert values["max_diff64"] < values["max_diff"] / 1e6


def test_utils_im2col_is_exactly_unfold(run):
    _, values = run
    assert values["im2col_equals_unfold"] is True
    assert np.array_equal(np.array(values["cols"]), np.array(values["inp_unf"]))
    column = np.array(values["column"])
    assert column.shape == (75,)
    assert values["by_hand"] == pytest.approx(values["from_conv"], abs=1e-5)


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


def test_the_speed_table_times_the_five_ways(run):
    _, values = run
    table = values["timings"]
    assert len(table["index"]) == 5
    assert any("conv2d_per_offset" in name for name in table["index"])
    columns = table["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in table["data"]]
    assert all(r["median_ms"] > 0 and r["ms per image"] > 0 for r in rows)
    assert rows[0]["speed-up over the loop"] == 1


def test_the_tf32_cell_says_what_it_shows(run):
    nb, _ = run
    cell = next(c for c in nb.cells if c.cell_type == "code" and "torch.cuda.is_available()" in c.source)
    text = "".join(out.get("text", "") for out in cell.outputs)
    assert "No CUDA GPU" in text or "cuDNN precision" in text


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

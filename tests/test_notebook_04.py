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
    nb, values = run
    assert np.shape(values["w"]) == (1, 3, 5, 5)
    assert np.shape(values["inp_unf"]) == (1, 75, 784)
    assert np.shape(values["out_unf"]) == (1, 1, 784)
    assert np.shape(values["im2col_output"]) == (1, 1, 28, 28)
    assert [values["height_out"], values["width_out"]] == [28, 28]
    text = "".join(o.get("text", "") for c in nb.cells if "inp_unf.shape =" in c.source for o in c.outputs)
    assert "inp_unf.shape = torch.Size([1, 75, 784])" in text


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


def rows_of(table) -> dict[str, dict]:
    """A DataFrame from the snapshot (pandas' "split" form) as {index: {column: value}}."""
    return {
        name: dict(zip(table["columns"], row, strict=True))
        for name, row in zip(table["index"], table["data"], strict=True)
    }


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


def test_edge_filters_agree_between_conv2d_and_im2col(run):
    _, values = run
    assert np.shape(values["edges_conv"]) == np.shape(values["edges_im2col"]) == (1, 3, 30, 30)
    assert values["edge_max_diff"] < 1e-5
    assert np.abs(np.array(values["edges_conv"])).max() > 1  # the cat has edges


def test_1x1_groups_and_channels_last(run):
    _, values = run
    assert values["unfold_1x1_is_input"] is True and values["one_by_one_diff"] < 1e-5
    grouped = values["grouped"]
    assert grouped["2"]["zeros"] == 0.5 and grouped["4"]["zeros"] == 0.75
    assert all(found["difference"] < 1e-5 for found in grouped.values())
    assert values["strides_nchw"] == [3072, 1024, 32, 1] and values["strides_nhwc"] == [3072, 1, 96, 3]
    assert values["channels_last_same"] is True


def test_what_libraries_do_winograd_numbers(run):
    _, values = run
    assert values["winograd"]["F(2x2, 3x3)"] == 2.25 and values["winograd"]["F(4x4, 3x3)"] == 4
    assert values["direct_growth"]["11"] == pytest.approx(121 / 9)


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

"""Notebook 04 (im2col versus nn.Conv2d): the seed post's numbers, read from the executed notebook.

The tests read the notebook's own variables from one headless run (the ``executed`` fixture).
"""

import numpy as np
import pytest

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


def test_utils_im2col_is_exactly_unfold(run):
    _, values = run
    assert values["im2col_equals_unfold"] is True
    assert np.array_equal(np.array(values["cols"]), np.array(values["inp_unf"]))
    column = np.array(values["column"])
    assert column.shape == (75,)
    assert values["by_hand"] == pytest.approx(values["from_conv"], abs=1e-5)


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

"""Notebook 04, im2col versus nn.Conv2d: it runs clean, the reproduced seed-0 layer's numbers, its exercise's
checks (planted mistakes named, the answer never given)."""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import numpy as np
import pytest

import notebook_checks as checks

NOTEBOOK = "04_im2col_vs_conv2d"
FIRST_ROW = [-0.0445, 0.0310, -0.0023, 0.0916, -0.0102]  # seed 0, two iter() calls, then nn.Conv2d(3, 1, 5)


# --- the notebook's numbers ---------------------------------------------------------------------


def test_the_layer_has_the_reproduced_seed_0_weights(notebook):
    assert [round(v, 4) for v in notebook.value("first_row.tolist()")] == FIRST_ROW
    assert [round(v, 4) for v in checks.array(notebook, "w")[0, 0, 0]] == FIRST_ROW


def test_the_four_shapes_of_unfold_matmul_view(notebook):
    assert notebook.value("list(w.shape)") == [1, 3, 5, 5]
    assert notebook.value("list(inp_unf.shape)") == [1, 75, 784]
    assert notebook.value("list(out_unf.shape)") == [1, 1, 784]
    assert notebook.value("list(im2col_output.shape)") == [1, 1, 28, 28]
    assert [notebook.value("height_out"), notebook.value("width_out")] == [28, 28]
    assert "inp_unf.shape = torch.Size([1, 75, 784])" in checks.printed(notebook.nb, "inp_unf.shape =")


def test_the_printed_difference_is_the_largest_between_the_two_outputs(notebook):
    conv, im2col = checks.array(notebook, "conv_output"), checks.array(notebook, "im2col_output")
    assert np.abs(conv - im2col).max() == pytest.approx(notebook.value("max_diff"))
    assert np.abs(conv).max() > 0.1  # a real output, not zeros
    # The reproduced example's float32 difference, about 1.5e-07 here: rounding, not a mistake.
    assert 5e-8 < notebook.value("max_diff") < 5e-7
    assert notebook.value("list(im2col4.shape)") == [1, 4, 28, 28]


def test_the_formulas_single_product_and_the_batched_one_agree(notebook):
    assert notebook.value("list(single.shape)") == [1, 2 * 784]
    assert notebook.value("list(batched.shape)") == [2, 1, 784]
    single, batched = checks.array(notebook, "single"), checks.array(notebook, "batched")
    np.testing.assert_allclose(single.reshape(1, 2, -1).transpose(1, 0, 2), batched, atol=1e-6)


def test_edge_filters_agree_between_conv2d_and_im2col(notebook):
    assert (
        notebook.value("list(edges_conv.shape)")
        == notebook.value("list(edges_im2col.shape)")
        == [1, 3, 30, 30]
    )
    assert notebook.value("edge_max_diff") < 1e-5
    assert np.abs(checks.array(notebook, "edges_conv")).max() > 1  # the cat has edges


def test_1x1_groups_and_channels_last(notebook):
    assert notebook.value("unfold_1x1_is_input") is True and notebook.value("one_by_one_diff") < 1e-5
    grouped = notebook.value("grouped")
    assert grouped["2"]["zeros"] == 0.5 and grouped["4"]["zeros"] == 0.75
    assert all(found["difference"] < 1e-5 for found in grouped.values())
    assert notebook.value("strides_nchw") == [3072, 1024, 32, 1]
    assert notebook.value("strides_nhwc") == [3072, 1, 96, 3]
    assert notebook.value("channels_last_same") is True


# --- the exercise: planted mistakes -------------------------------------------------------------

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
_ROWS = "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n    columns = F.unfold(x, w.shape[2:], stride=stride, padding=padding)\n"
PLANTED = [
    (
        "ex1a-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
        + _ROWS
        + "    return (w.reshape(len(w), -1) @ columns).view(len(x), len(w), h_out, w_out)",
        "the biases are missing",
    ),
    (
        "ex1a-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    return getattr(F, 'con' + 'v2d')(x, w, b, stride=stride, padding=padding)",
        "which is a convolution routine",
    ),
    (
        "ex1a-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    return torch.ops.aten.convolution(x, w, b, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)",
        "which is a convolution routine",
    ),
    (
        "ex1a-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    return torch.from_numpy(utils.conv2d_im2col(x.numpy(), w.numpy(), b.numpy(), stride, padding))",
        "which is a convolution routine",
    ),
    (
        "ex1b-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
        + _ROWS
        + "    product = columns.transpose(1, 2) @ w.reshape(len(w), -1).T + b\n    return product.reshape(len(x), len(w), h_out, w_out)",
        "move K before L first",
    ),
    (
        "ex1b-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
        + _ROWS
        + "    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(len(x), len(w), h_out, w_out).float()",
        "the task asks for float64",
    ),
    (
        "ex1c-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride)\n    columns = F.unfold(x, w.shape[2:], stride=stride)\n    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(len(x), len(w), h_out, w_out)",
        "the padding is missing",
    ),
    (
        "ex1c-check",
        "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), padding=padding)\n    columns = F.unfold(x, w.shape[2:], padding=padding)\n    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(len(x), len(w), h_out, w_out)",
        "the stride is missing",
    ),
]

SECRETS = {}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""

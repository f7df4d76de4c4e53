"""Notebook 06, the backward pass through im2col: it runs clean, its numbers (recomputed here with
autograd), its exercise's checks (planted mistakes named, the answers never given)."""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import notebook_checks as checks
import utils

NOTEBOOK = "06_backward_with_col2im"


# --- the notebook's numbers ---------------------------------------------------------------------


def shape(notebook, name: str) -> tuple[int, ...]:
    return tuple(notebook.value(f"list({name}.shape)"))


def test_the_layer_is_notebook_04s_geometry(notebook):
    assert notebook.value("kernel_size") == [5, 5]
    assert shape(notebook, "x")[1:] == (3, 32, 32)
    assert shape(notebook, "X_col")[1:] == (75, 784)  # C*kh*kw rows, 28*28 windows
    assert shape(notebook, "Y_col") == (2, 4, 784)
    assert shape(notebook, "y")[2:] == (28, 28)


def test_the_gradients_have_the_shapes_of_what_they_are_gradients_of(notebook):
    for gradient, of in (("dw", "w"), ("db", "b"), ("dx", "x")):
        assert shape(notebook, gradient) == shape(notebook, of), gradient


def test_the_notebooks_gradients_match_f_conv2d_recomputed_here(notebook):
    # Independent of the notebook's own check: rebuild the layer from its numbers.
    x, w, b = (
        torch.tensor(checks.array(notebook, name), dtype=torch.float64, requires_grad=True)
        for name in ("x", "w", "b")
    )
    F.conv2d(x, w, b).backward(torch.tensor(checks.array(notebook, "dy"), dtype=torch.float64))
    for name, tensor in (("dw", w), ("db", b), ("dx", x)):
        assert np.abs(checks.array(notebook, name) - tensor.grad.numpy()).max() < 1e-10, name


def test_the_numerical_check_covers_every_number_of_the_tiny_example(notebook):
    sizes = [notebook.value(f"{name}.size") for name in ("x_tiny", "w_tiny", "b_tiny")]
    assert notebook.value("numbers_checked") == sum(sizes)
    assert notebook.value("tiny") == {"stride": 2, "padding": 1}
    errors = notebook.value("numerical_errors")
    assert set(errors) == {"dw", "db", "dx"}
    assert notebook.value("numerical_max_error") == max(errors.values())


def test_the_finite_difference_errors_are_relative_and_at_rounding_level(notebook):
    assert 0 < notebook.value("numerical_max_error") < 1e-8


def test_the_coverage_counts(notebook):
    stride1, stride2 = checks.array(notebook, "coverage_stride1"), checks.array(notebook, "coverage_stride2")
    assert stride1.shape == stride2.shape == (32, 32)
    # The 5x5 layer's geometry: a pixel lies in at most 5*5 windows; a corner in one.
    assert stride1.max() == 25 and stride1[0, 0] == stride1[-1, -1] == 1
    assert stride1.sum() == notebook.value("windows_stride1") * 25 == 28 * 28 * 25
    assert stride2.max() == 9 and stride2.sum() == notebook.value("windows_stride2") * 25 == 14 * 14 * 25
    # Stride 2 drops the last row and column: 32 + 32 - 1 pixels in no window.
    assert notebook.value("uncovered_stride2") == 63 == np.sum(stride2 == 0)
    assert stride2[31].sum() == stride2[:, 31].sum() == 0
    for counts, stride in ((stride1, 1), (stride2, 2)):
        windows = utils.conv_output_size(32, 5, stride) ** 2
        expected = F.fold(torch.ones(1, 25, windows), 32, 5, stride=stride)[0, 0].numpy()
        np.testing.assert_array_equal(counts, expected)


def test_a_pixel_has_25_copies_and_copying_one_back_would_be_wrong(notebook):
    copies = checks.array(notebook, "copies")
    assert copies.size == 25
    assert not np.isclose(copies[-1], copies.sum())


def test_the_sparse_matrix_is_the_convolution_and_its_transpose_the_backward_pass(notebook):
    C = checks.array(notebook, "C")
    assert C.shape == (4, 16) and np.count_nonzero(C) == 36
    rows = [sorted(row[row != 0].tolist()) for row in C]
    assert all(row == list(range(1, 10)) for row in rows), "every row holds the same 9 weights"
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    kernel = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    np.testing.assert_allclose(C @ x.numpy().ravel(), F.conv2d(x, kernel).numpy().ravel())
    assert notebook.value("matrix_forward_diff") < 1e-12 and notebook.value("matrix_backward_diff") < 1e-12


def test_conv_transpose2d_with_output_padding_is_the_input_gradient(notebook):
    assert notebook.value("floor_dropped") == 1
    assert shape(notebook, "transposed_short")[2:] == (31, 31)
    assert shape(notebook, "transposed") == (2, 3, 32, 32)
    assert notebook.value("transposed_diff") < 1e-10 and notebook.value("col2im_diff") < 1e-10
    # Recomputed here: the transposed convolution of the notebook's dy is autograd's dx.
    x = torch.tensor(checks.array(notebook, "x"), dtype=torch.float64, requires_grad=True)
    w = torch.tensor(checks.array(notebook, "w"), dtype=torch.float64)
    dy = torch.tensor(checks.array(notebook, "dy_stride2"), dtype=torch.float64)
    (dx,) = torch.autograd.grad(F.conv2d(x, w, stride=2), x, dy)
    np.testing.assert_allclose(checks.array(notebook, "transposed"), dx.numpy(), atol=1e-12)


def test_at_stride_1_dx_and_dw_are_correlations(notebook):
    assert notebook.value("full_correlation_diff") < 1e-10 and notebook.value("dw_correlation_diff") < 1e-10
    np.testing.assert_allclose(checks.array(notebook, "dx_full"), checks.array(notebook, "dx"), atol=1e-10)
    np.testing.assert_allclose(
        checks.array(notebook, "dw_correlation"), checks.array(notebook, "dw"), atol=1e-10
    )


def test_the_filter_is_learned_with_the_notebooks_dw_and_with_sgd(notebook):
    sobel = utils.edge_filters(1)[:1].double().numpy()
    own, sgd = checks.array(notebook, "w_learned"), np.array(notebook.value("w_sgd.detach().tolist()"))
    np.testing.assert_allclose(own, sobel, atol=1e-6)
    np.testing.assert_allclose(sgd, sobel, atol=1e-6)
    own_losses, sgd_losses = notebook.value("own_losses"), notebook.value("sgd_losses")
    assert len(own_losses) == len(sgd_losses) == notebook.value("n_steps")
    assert own_losses[-1] < 1e-12 * own_losses[0]  # the loss falls, to rounding
    np.testing.assert_allclose(own_losses, sgd_losses, rtol=0, atol=1e-12 * own_losses[0])
    # The loss at the start is that of the zero filter: half the mean square of the targets.
    y = checks.array(notebook, "y_learn")
    assert own_losses[0] == pytest.approx(0.5 * np.mean(y**2))


def transposed_size(i, k, s, p, d, a):
    return s * (i - 1) - 2 * p + d * (k - 1) + a + 1


def test_the_transposed_output_size_formula_on_over_500_configurations(notebook):
    checked = []
    for i, k, s, p, d in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(3), range(1, 3)):
        for a in range(max(s, d)):  # output_padding must be smaller than the stride or the dilation
            size = transposed_size(i, k, s, p, d, a)
            if size < 1:
                continue  # PyTorch refuses a negative or zero output size
            layer = torch.nn.ConvTranspose2d(1, 1, k, stride=s, padding=p, output_padding=a, dilation=d)
            with torch.no_grad():
                assert layer(torch.zeros(1, 1, i, i)).shape[-1] == size, (i, k, s, p, d, a)
            checked.append((i, k, s, p, d, a))
    assert len(checked) >= 500
    for config in checked[::25]:  # the notebook's formula is this one
        assert notebook.value(f"transposed_size{config}") == transposed_size(*config)


def test_zero_insertion_checkerboard_and_the_strided_backward(notebook):
    assert notebook.value("zero_insertion_diff") < 1e-12
    assert notebook.value("list(upsampled.shape)") == [1, 1, 7, 7]
    upsampled = np.array(notebook.value("upsampled.tolist()"))[0, 0]
    expected = F.conv_transpose2d(
        torch.arange(1.0, 10.0).view(1, 1, 3, 3), torch.ones(1, 1, 3, 3), stride=2
    ).numpy()[0, 0]
    np.testing.assert_array_equal(upsampled, expected)
    assert notebook.value("inner_values") == {"3": [1.0, 2.0, 4.0], "4": [4.0]}
    assert notebook.value("dilated_dw_diff") < 1e-10 and notebook.value("spread_dx_diff") < 1e-10
    assert notebook.value("list(dw_dilated.shape)") == [4, 3, 5, 5]
    assert notebook.value("list(dx_spread.shape)") == [2, 3, 32, 32]


# --- the exercise: planted mistakes -------------------------------------------------------------

# Exercise 1 (c), solved with loops: several planted mistakes below are one change to it.
LOOPS = (
    "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
    "    n_images, n_filters, h_out, w_out = dy.shape\n"
    "    _, channels, kh, kw = w.shape\n"
    "    height, width = input_size\n"
    "    dx_pad = np.zeros((n_images, channels, height + 2 * padding, width + 2 * padding))\n"
    "    for n in range(n_images):\n"
    "        for k in range(n_filters):\n"
    "            for i in range(h_out):\n"
    "                for j in range(w_out):\n"
    "                    top, left = i * stride, j * stride\n"
    "                    dx_pad[n, :, top : top + kh, left : left + kw] += dy[n, k, i, j] * w[k]\n"
    "    return dx_pad[:, :, padding : padding + height, padding : padding + width]"
)

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
PLANTED = [
    ("ex1a-check", "def bias_gradient(dy):\n    return dy.mean(axis=(0, 2, 3))", "that is a mean"),
    ("ex1a-check", "def bias_gradient(dy):\n    return dy.sum(axis=(2, 3))", "one gradient per image"),
    ("ex1a-check", "def bias_gradient(dy):\n    return dy.sum(axis=(0, 2, 3)).astype(np.float32)", "float64"),
    (
        "ex1b-check",
        "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n    columns = utils.im2col(x, kernel_size, stride=stride, padding=padding)\n    dy_rows = dy.reshape(dy.shape[0], dy.shape[1], -1)\n    return (dy_rows @ columns.transpose(0, 2, 1)).mean(axis=0).reshape(dy.shape[1], x.shape[1], *kernel_size)",
        "an average over the images",
    ),
    (
        "ex1b-check",
        "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n    x_t = torch.from_numpy(x)\n    w_t = torch.zeros(dy.shape[1], x.shape[1], *kernel_size, dtype=torch.float64, requires_grad=True)\n    F.conv2d(x_t, w_t, stride=stride, padding=padding).backward(torch.from_numpy(dy))\n    return w_t.grad.numpy()",
        "this part asks you not to use one",
    ),
    (
        "ex1b-check",
        "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n    x_t, w_t = torch.from_numpy(x), torch.zeros(dy.shape[1], x.shape[1], *kernel_size, dtype=torch.float64)\n    return torch.func.vjp(lambda w: F.conv2d(x_t, w, stride=stride, padding=padding), w_t)[1](torch.from_numpy(dy))[0].numpy()",
        "which is",
    ),
    (
        "ex1c1-check",
        "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n    n_images, n_filters, h_out, w_out = dy.shape\n    _, channels, kh, kw = w.shape\n    dx = np.zeros((n_images, channels, input_size[0] + 2 * padding, input_size[1] + 2 * padding))\n    for n in range(n_images):\n        for k in range(n_filters):\n            for i in range(h_out):\n                for j in range(w_out):\n                    dx[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw] = dy[n, k, i, j] * w[k]\n    return dx[:, :, padding : padding + input_size[0], padding : padding + input_size[1]]",
        "add (+=), do not assign",
    ),
    (
        "ex1c1-check",
        "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n    cols = w.reshape(len(w), -1).T @ dy.reshape(len(dy), len(w), -1)\n    return utils.col2im(cols, input_size, w.shape[2:], stride=stride, padding=padding)",
        "which is a fold (col2im) routine",
    ),
    (
        "ex1c2-check",
        "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n    n_images, n_filters, h_out, w_out = dy.shape\n    _, channels, kh, kw = w.shape\n    dx = np.zeros((n_images, channels, input_size[0] + 2 * padding, input_size[1] + 2 * padding))\n    for n in range(n_images):\n        for k in range(n_filters):\n            for i in range(h_out):\n                for j in range(w_out):\n                    dx[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += dy[n, k, i, j] * w[k]\n    return dx",
        "the padding is still there",
    ),
    (
        "ex1c2-check",
        "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n    x = torch.zeros(dy.shape[0], w.shape[1], *input_size, dtype=torch.float64, requires_grad=True)\n    return torch.autograd.grad(F.conv2d(x, torch.from_numpy(w), stride=stride, padding=padding), x, torch.from_numpy(dy))[0].numpy()",
        "this part asks you not to use one",
    ),
]

SECRETS = {}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""

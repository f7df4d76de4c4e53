"""Notebook 06: the backward pass through im2col, read from the notebook's own variables."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils

STEM = "06_backward_with_col2im"


@pytest.fixture(scope="module")
def values(executed):
    return executed(STEM)[1]


def test_the_layer_is_the_seed_posts_geometry(values):
    assert values["kernel_size"] == [5, 5]
    assert np.shape(values["x"])[1:] == (3, 32, 32)
    # X_col itself is too large for the snapshot; the map of its sources has its shape per image.
    assert np.shape(values["source"]) == (75, 784)  # C*kh*kw rows, 28*28 windows
    assert np.shape(values["Y_col"]) == (2, 4, 784)
    assert np.shape(values["y"])[2:] == (28, 28)
    assert values["forward_diff"] < 1e-10


def test_the_gradients_have_the_shapes_of_what_they_are_gradients_of(values):
    assert np.shape(values["dw"]) == np.shape(values["w"])
    assert np.shape(values["db"]) == np.shape(values["b"])
    assert np.shape(values["dx"]) == np.shape(values["x"])


def test_the_three_gradients_match_autograd_in_float64(values):
    for name in ("dw_diff", "db_diff", "dx_diff"):
        assert 0 <= values[name] < 1e-10, name
    assert values["adjoint_diff"] < 1e-10


def test_the_notebooks_gradients_match_f_conv2d_recomputed_here(values):
    # Independent of the notebook's own check: rebuild the layer from its numbers.
    x = torch.tensor(values["x"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(values["w"], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(values["b"], dtype=torch.float64, requires_grad=True)
    F.conv2d(x, w, b).backward(torch.tensor(values["dy"], dtype=torch.float64))
    for name, tensor in (("dw", w), ("db", b), ("dx", x)):
        assert np.abs(np.array(values[name]) - tensor.grad.numpy()).max() < 1e-10, name


def test_the_numerical_check_covers_every_number_of_the_tiny_example_and_passes(values):
    sizes = [np.size(values[name]) for name in ("x_tiny", "w_tiny", "b_tiny")]
    assert values["numbers_checked"] == sum(sizes)
    assert values["tiny"] == {"stride": 2, "padding": 1}
    assert set(values["numerical_errors"]) == {"dw", "db", "dx"}
    assert values["numerical_max_error"] == max(values["numerical_errors"].values())
    assert values["numerical_max_error"] < 1e-6


def test_the_coverage_counts(values):
    stride1, stride2 = np.array(values["coverage_stride1"]), np.array(values["coverage_stride2"])
    assert stride1.shape == stride2.shape == (32, 32)
    # The post's geometry: a pixel lies in at most 5*5 windows; a corner in one.
    assert stride1.max() == 25 and stride1[0, 0] == stride1[-1, -1] == 1
    assert stride1.sum() == values["windows_stride1"] * 25 == 28 * 28 * 25
    assert stride2.max() == 9 and stride2.sum() == values["windows_stride2"] * 25 == 14 * 14 * 25
    # Stride 2 drops the last row and column: 32 + 32 - 1 pixels in no window.
    assert values["uncovered_stride2"] == 63 == np.sum(stride2 == 0)
    assert stride2[31].sum() == stride2[:, 31].sum() == 0
    for counts, stride in ((stride1, 1), (stride2, 2)):
        windows = utils.conv_output_size(32, 5, stride) ** 2
        expected = F.fold(torch.ones(1, 25, windows), 32, 5, stride=stride)[0, 0].numpy()
        np.testing.assert_array_equal(counts, expected)


def test_a_pixels_gradient_is_the_sum_over_its_copies(values):
    copies = np.array(values["copies"])
    assert copies.size == 25
    pixel = tuple(values["pixel"])
    assert np.isclose(copies.sum(), np.array(values["dx"])[0][pixel], rtol=0, atol=1e-12)
    assert not np.isclose(copies[-1], copies.sum())  # copying one would be wrong here


def test_the_exercise_answer_matches_autograd_run_here(values):
    """The loops of exercise 1 (c) on the last case of its hidden test, against autograd here."""
    x = torch.tensor(values["x_case"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(values["w_case"], dtype=torch.float64)
    dy = torch.tensor(values["dy_case"], dtype=torch.float64)
    stride, padding = values["stride"], values["padding"]
    F.conv2d(x, w, stride=stride, padding=padding).backward(dy)
    assert (stride, padding) == (3, 1)
    assert np.abs(np.array(values["ex1_got"]) - x.grad.numpy()).max() < 1e-10


def test_the_sparse_matrix_is_the_convolution_and_its_transpose_the_backward_pass(values):
    C = np.array(values["C"])
    assert C.shape == (4, 16) and np.count_nonzero(C) == 36
    rows = [sorted(row[row != 0].tolist()) for row in C]
    assert all(row == list(range(1, 10)) for row in rows), "every row holds the same 9 weights"
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    kernel = torch.arange(1.0, 10.0, dtype=torch.float64).view(1, 1, 3, 3)
    np.testing.assert_allclose(C @ x.numpy().ravel(), F.conv2d(x, kernel).numpy().ravel())
    assert values["matrix_forward_diff"] < 1e-12 and values["matrix_backward_diff"] < 1e-12


def test_conv_transpose2d_with_output_padding_is_the_input_gradient(values):
    assert values["floor_dropped"] == 1
    assert np.shape(values["transposed_short"])[2:] == (31, 31)
    assert np.shape(values["transposed"]) == (2, 3, 32, 32)
    assert values["transposed_diff"] < 1e-10 and values["col2im_diff"] < 1e-10
    # Recomputed here: the transposed convolution of the notebook's dy is autograd's dx.
    x = torch.tensor(values["x"], dtype=torch.float64, requires_grad=True)
    w = torch.tensor(values["w"], dtype=torch.float64)
    dy = torch.tensor(values["dy_stride2"], dtype=torch.float64)
    (dx,) = torch.autograd.grad(F.conv2d(x, w, stride=2), x, dy)
    np.testing.assert_allclose(np.array(values["transposed"]), dx.numpy(), atol=1e-12)


def test_at_stride_1_dx_and_dw_are_correlations(values):
    assert values["full_correlation_diff"] < 1e-10 and values["dw_correlation_diff"] < 1e-10
    np.testing.assert_allclose(np.array(values["dx_full"]), np.array(values["dx"]), atol=1e-10)
    np.testing.assert_allclose(np.array(values["dw_correlation"]), np.array(values["dw"]), atol=1e-10)


def test_the_finite_difference_errors_are_relative_and_at_rounding_level(values):
    assert 0 < values["numerical_max_error"] < 1e-8

"""utils.col2im: the same as F.fold, the adjoint of utils.im2col, and clear errors on bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils


def pair(values) -> tuple[int, int]:
    return int(values[0]), int(values[1])


def random_geometries(count: int, seed: int, max_size: int = 12):
    """Random (input size, kernel, geometry) with (h, w) pairs everywhere, keeping those that fit."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        size, kernel = rng.integers(1, max_size + 1, 2), rng.integers(1, 6, 2)
        stride, padding, dilation = rng.integers(1, 4, 2), rng.integers(0, 3, 2), rng.integers(1, 3, 2)
        if np.all(dilation * (kernel - 1) + 1 <= size + 2 * padding):
            geometry = {"stride": pair(stride), "padding": pair(padding), "dilation": pair(dilation)}
            found.append((pair(size), pair(kernel), geometry))
    return found


def windows_overlap(kernel, geometry) -> bool:
    """True if neighbouring windows share pixels along some axis (stride < dilated kernel span)."""
    spans = np.multiply(geometry["dilation"], np.subtract(kernel, 1)) + 1
    return bool(np.any(np.less(geometry["stride"], spans)))


@pytest.mark.parametrize("dtype, rel_tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_col2im_matches_f_fold(dtype, rel_tol):
    rng = np.random.default_rng(0)
    geometries = random_geometries(80, seed=1)
    overlapping = 0
    for size, kernel, geometry in geometries:
        n, channels = (int(v) for v in rng.integers(1, 4, 2))
        h_out, w_out = utils.conv_output_size(size, kernel, **geometry)
        cols = rng.standard_normal((n, channels * kernel[0] * kernel[1], h_out * w_out)).astype(dtype)
        expected = F.fold(torch.from_numpy(cols), output_size=size, kernel_size=kernel, **geometry).numpy()
        got = utils.col2im(cols, size, kernel, **geometry)
        assert got.shape == expected.shape == (n, channels, *size), (size, kernel, geometry)
        assert got.dtype == dtype
        tolerance = rel_tol * max(np.abs(expected).max(), 1.0)
        assert np.abs(got - expected).max() <= tolerance, (size, kernel, geometry)
        overlapping += windows_overlap(kernel, geometry)
    # The sweep must include many geometries where windows overlap (the case col2im adds for).
    assert overlapping >= 40


def test_col2im_takes_ints_as_well_as_pairs():
    rng = np.random.default_rng(2)
    cols = rng.standard_normal((1, 2 * 9, 25))  # 2 channels, 3x3 kernel, 5x5 windows on 9x9 padded by 1
    expected = F.fold(torch.from_numpy(cols), 9, 3, stride=2, padding=1).numpy()
    np.testing.assert_allclose(utils.col2im(cols, 9, 3, stride=2, padding=1), expected, atol=1e-12)
    np.testing.assert_allclose(
        utils.col2im(cols, (9, 9), (3, 3), stride=(2, 2), padding=(1, 1)), expected, atol=1e-12
    )


def test_col2im_is_the_adjoint_of_im2col():
    # <im2col(x), y> = <x, col2im(y)> for every x and y: col2im is the transpose of im2col.
    rng = np.random.default_rng(3)
    for size, kernel, geometry in random_geometries(60, seed=4):
        x = rng.standard_normal((2, 3, *size))
        cols = utils.im2col(x, kernel, **geometry)
        y = rng.standard_normal(cols.shape)
        left = np.sum(cols * y)
        right = np.sum(x * utils.col2im(y, size, kernel, **geometry))
        assert abs(left - right) <= 1e-10 * max(abs(left), 1.0), (size, kernel, geometry)


def test_folding_ones_counts_the_windows_that_cover_each_pixel():
    # The seed post's geometry: 32x32 input, 5x5 kernel, stride 1, no padding -> 28*28 windows.
    counts = utils.col2im(np.ones((1, 25, 28 * 28)), 32, 5)[0, 0]
    assert counts.max() == 25 and counts[0, 0] == 1 and counts.sum() == 28 * 28 * 25
    # Stride 2 leaves the last row and column (31) out of every window: they get nothing back.
    counts = utils.col2im(np.ones((1, 25, 14 * 14)), 32, 5, stride=2)[0, 0]
    assert counts[31].sum() == 0 and counts[:, 31].sum() == 0 and counts.max() == 9


def test_col2im_of_the_unpadded_part_ignores_what_fell_on_the_padding():
    # A window that lies partly on the padding sends those values nowhere: they are dropped.
    cols = np.ones((1, 9, 1))  # one 3x3 window on a 1x1 input with padding 1
    np.testing.assert_array_equal(utils.col2im(cols, 1, 3, padding=1), np.ones((1, 1, 1, 1)))


COLS = np.zeros((1, 2 * 9, 9))  # 2 channels, 3x3 kernel, 3x3 windows on a 5x5 input

BAD_INPUTS = {
    "cols 2-D": (
        lambda: utils.col2im(COLS[0], 5, 3),
        r"cols must be 3-D \(N, C\*kh\*kw, L\), got shape \(18, 9\)",
    ),
    "cols 4-D": (lambda: utils.col2im(COLS[None], 5, 3), r"cols must be 3-D .*got shape \(1, 1, 18, 9\)"),
    "rows not a multiple of kh*kw": (
        lambda: utils.col2im(COLS[:, :17], 5, 3),
        r"cols.shape\[1\] must be C\*kh\*kw, a positive multiple of kh\*kw = 9, got 17",
    ),
    "no rows": (
        lambda: utils.col2im(COLS[:, :0], 5, 3),
        r"cols.shape\[1\] must be C\*kh\*kw, a positive multiple of kh\*kw = 9, got 0",
    ),
    "L too small": (
        lambda: utils.col2im(COLS[:, :, :8], 5, 3),
        r"cols.shape\[2\] must be L = H_out\*W_out = 3\*3 = 9 for input_size \(5, 5\).*got 8",
    ),
    "L of another stride": (
        lambda: utils.col2im(COLS, 5, 3, stride=2),
        r"cols.shape\[2\] must be L = H_out\*W_out = 2\*2 = 4 .*got 9",
    ),
    "float input size": (lambda: utils.col2im(COLS, 5.0, 3), r"input_size must be an integer.*5\.0"),
    "input size 0": (lambda: utils.col2im(COLS, (5, 0), 3), r"input_size must be >= 1, got \(5, 0\)"),
    "input size triple": (
        lambda: utils.col2im(COLS, (5, 5, 5), 3),
        r"input_size must be an int or an \(h, w\) pair",
    ),
    "bool kernel": (lambda: utils.col2im(COLS, 5, True), r"kernel_size must be an integer.*True"),
    "kernel 0": (lambda: utils.col2im(COLS, 5, 0), r"kernel_size must be >= 1, got 0"),
    "stride 0": (lambda: utils.col2im(COLS, 5, 3, stride=0), r"stride must be >= 1, got 0"),
    "dilation 0": (lambda: utils.col2im(COLS, 5, 3, dilation=(1, 0)), r"dilation must be >= 1, got \(1, 0\)"),
    "negative padding": (lambda: utils.col2im(COLS, 5, 3, padding=-1), r"padding must be >= 0, got -1"),
    "kernel larger than the input": (
        lambda: utils.col2im(COLS, 2, 3),
        r"kernel_size: the dilated kernel spans .* = 3 cells, more than the padded input .* = 2",
    ),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_raises_a_clear_value_error(name):
    call, message = BAD_INPUTS[name]
    with pytest.raises(ValueError, match=message):
        call()

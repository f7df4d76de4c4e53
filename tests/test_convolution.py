"""utils' convolution against PyTorch: the output size, conv2d_naive, im2col, conv2d_im2col, col2im,
the memory of im2col, and a clear ValueError for every kind of bad input."""

import itertools
import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils

CONVOLUTIONS = (utils.conv2d_naive, utils.conv2d_im2col)


def reference(x, w, b=None, **geometry) -> np.ndarray:
    """F.conv2d on NumPy arrays."""
    bias = None if b is None else torch.from_numpy(b)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, **geometry).numpy()


def peak_bytes(function) -> int:
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


# --- conv_output_size ---------------------------------------------------------------------------


def test_output_size_matches_nn_conv2d_on_600_geometries(random_geometries):
    partial_windows = 0
    for size, kernel, g in random_geometries(600, seed=0, max_size=40):
        conv = torch.nn.Conv2d(1, 1, kernel, **g, bias=False)
        with torch.no_grad():
            expected = tuple(conv(torch.zeros(1, 1, *size)).shape[2:])
        assert utils.conv_output_size(size, kernel, **g) == expected, (size, kernel, g)
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, g["dilation"], strict=True)]
        partial_windows += any(
            (n + 2 * p - span) % s
            for n, p, span, s in zip(size, g["padding"], spans, g["stride"], strict=True)
        )
    assert partial_windows >= 100, "the sweep must include many cases where the floor drops a window"


def test_output_size_with_ints_is_an_int_and_with_a_pair_is_a_pair():
    assert utils.conv_output_size(32, 5) == 28 and isinstance(utils.conv_output_size(32, 5), int)
    assert utils.conv_output_size(5, 3, stride=2, padding=1) == 3  # the CS231n example
    assert utils.conv_output_size((32, 30), 5, stride=(1, 2)) == (28, 13)
    assert utils.conv_output_size(7, 3, dilation=(2, 1)) == (3, 5)


# --- the convolutions and im2col against PyTorch ---------------------------------------------


@pytest.mark.parametrize("dtype, rel_tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
def test_convolutions_match_f_conv2d(dtype, rel_tol, random_geometries):
    rng = np.random.default_rng(1)
    geometries = random_geometries(60, seed=2)
    # The sweep covers pairs, strides, padding and dilation, not only the easy square case.
    assert any(g["stride"][0] != g["stride"][1] for _, _, g in geometries)
    assert any(
        max(g["dilation"]) > 1 and max(g["padding"]) > 0 and max(g["stride"]) > 1 for _, _, g in geometries
    )
    for size, kernel, g in geometries:
        n, channels, filters = (int(v) for v in rng.integers(1, 4, 3))
        x = rng.standard_normal((n, channels, *size)).astype(dtype)
        w = rng.standard_normal((filters, channels, *kernel)).astype(dtype)
        b = rng.standard_normal(filters).astype(dtype)
        expected = reference(x, w, b, **g)
        for conv in CONVOLUTIONS:
            got = conv(x, w, b, **g)
            assert got.shape == expected.shape and got.dtype == dtype, (conv.__name__, size, kernel, g)
            assert np.abs(got - expected).max() <= rel_tol * max(np.abs(expected).max(), 1.0), conv.__name__


@pytest.mark.parametrize("conv", CONVOLUTIONS)
def test_convolutions_without_bias_and_in_mixed_dtypes(conv):
    rng = np.random.default_rng(3)
    x64, w64 = rng.standard_normal((2, 3, 8, 7)), rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(conv(x64, w64, padding=1), reference(x64, w64, padding=1), atol=1e-12)
    x32 = x64.astype(np.float32)
    assert conv(x32, w64.astype(np.float32), padding=1).dtype == np.float32
    mixed = conv(x32, w64, padding=1)  # NumPy's rule: float64 wins
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed, reference(x32.astype(np.float64), w64, padding=1), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_is_exactly_unfold(dtype, random_geometries):
    rng = np.random.default_rng(4)
    for size, kernel, g in random_geometries(60, seed=5):
        x = rng.standard_normal((2, 3, *size)).astype(dtype)
        got = utils.im2col(x, kernel, **g)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, F.unfold(torch.from_numpy(x), kernel, **g).numpy())


def test_im2col_of_non_contiguous_input_is_a_fresh_array():
    base = np.random.default_rng(14).standard_normal((6, 2, 9, 11)).astype(np.float32)
    x = base.transpose(1, 0, 3, 2)[:, ::2]  # (2, 3, 11, 9), no longer C-contiguous
    for kernel, g in [(1, {}), ((2, 3), {"stride": (2, 1), "padding": (0, 2), "dilation": (3, 1)})]:
        got = utils.im2col(x, kernel, **g)
        np.testing.assert_array_equal(got, F.unfold(torch.from_numpy(np.ascontiguousarray(x)), kernel, **g))
        assert got.flags.writeable and got.flags.c_contiguous and not np.shares_memory(got, base)


def test_the_seed_posts_shapes():
    x, w = np.zeros((1, 3, 32, 32), dtype=np.float32), np.zeros((1, 3, 5, 5), dtype=np.float32)
    assert utils.im2col(x, 5).shape == (1, 75, 784)
    assert utils.conv2d_im2col(x, w).shape == (1, 1, 28, 28)


def test_im2col_and_conv2d_im2col_hold_the_column_matrix_and_little_else():
    n, c, size, k = 16, 8, 24, 12  # x 16x8x24x24, w 12x8x3x3, padding 1; float32
    rng = np.random.default_rng(16)
    x, w = (
        rng.standard_normal((n, c, size, size), dtype=np.float32),
        rng.standard_normal((k, c, 3, 3), dtype=np.float32),
    )
    cols, out, x_pad = n * c * 9 * size * size * 4, n * k * size * size * 4, n * c * (size + 2) ** 2 * 4
    assert cols <= peak_bytes(lambda: utils.im2col(x, 3, padding=1)) <= 1.01 * (cols + x_pad)
    assert (
        cols + out <= peak_bytes(lambda: utils.conv2d_im2col(x, w, padding=1)) <= 1.01 * (cols + out + x_pad)
    )


# --- col2im -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, rel_tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_col2im_matches_f_fold(dtype, rel_tol, random_geometries):
    rng = np.random.default_rng(0)
    overlapping = 0
    for size, kernel, g in random_geometries(80, seed=1):
        n, channels = (int(v) for v in rng.integers(1, 4, 2))
        h_out, w_out = utils.conv_output_size(size, kernel, **g)
        cols = rng.standard_normal((n, channels * kernel[0] * kernel[1], h_out * w_out)).astype(dtype)
        expected = F.fold(torch.from_numpy(cols), output_size=size, kernel_size=kernel, **g).numpy()
        got = utils.col2im(cols, size, kernel, **g)
        assert got.shape == expected.shape == (n, channels, *size) and got.dtype == dtype, (size, kernel, g)
        assert np.abs(got - expected).max() <= rel_tol * max(np.abs(expected).max(), 1.0), (size, kernel, g)
        spans = np.multiply(g["dilation"], np.subtract(kernel, 1)) + 1
        overlapping += bool(np.any(np.less(g["stride"], spans)))
    assert overlapping >= 40, "the sweep must include many geometries where windows overlap"


def test_col2im_is_the_adjoint_of_im2col(random_geometries):
    # <im2col(x), y> = <x, col2im(y)> for every x and y: col2im is the transpose of im2col.
    rng = np.random.default_rng(3)
    for size, kernel, g in random_geometries(60, seed=4):
        x = rng.standard_normal((2, 3, *size))
        cols = utils.im2col(x, kernel, **g)
        y = rng.standard_normal(cols.shape)
        left, right = np.sum(cols * y), np.sum(x * utils.col2im(y, size, kernel, **g))
        assert abs(left - right) <= 1e-10 * max(abs(left), 1.0), (size, kernel, g)


def test_folding_ones_counts_the_windows_that_cover_each_pixel():
    # Notebook 04's geometry: 32x32 input, 5x5 kernel, stride 1, no padding -> 28*28 windows.
    counts = utils.col2im(np.ones((1, 25, 28 * 28)), 32, 5)[0, 0]
    assert counts.max() == 25 and counts[0, 0] == 1 and counts.sum() == 28 * 28 * 25
    # Stride 2 leaves the last row and column (31) out of every window: they get nothing back.
    counts = utils.col2im(np.ones((1, 25, 14 * 14)), (32, 32), (5, 5), stride=(2, 2))[0, 0]
    assert counts[31].sum() == 0 and counts[:, 31].sum() == 0 and counts.max() == 9
    # A window partly on the padding sends those values nowhere: they are dropped.
    np.testing.assert_array_equal(utils.col2im(np.ones((1, 9, 1)), 1, 3, padding=1), np.ones((1, 1, 1, 1)))


def test_edge_filters_see_no_edge_on_a_flat_image_and_one_on_a_step():
    weights = utils.edge_filters(in_channels=3)
    assert weights.shape == (3, 3, 3, 3) and len(utils.EDGE_FILTER_NAMES) == 3
    assert F.conv2d(torch.ones(1, 3, 5, 5), weights).abs().max() < 1e-6
    step = torch.zeros(1, 3, 5, 6)
    step[..., 3:] = 1  # dark on the left, bright on the right: a vertical edge
    response = F.conv2d(step, weights)[0]
    assert response[0].abs().max() == pytest.approx(4) and response[1].abs().max() < 1e-6


# --- bad input ----------------------------------------------------------------------------------

X, W, COLS = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros((1, 2 * 9, 9))
TOO_LARGE = r"kernel_size: the dilated kernel spans .* = {} cells, more than the padded input .* = {}"

BAD_INPUTS = {
    "float size": (lambda: utils.conv_output_size(5.0, 3), r"size must be an integer.*5\.0"),
    "bool kernel": (lambda: utils.conv_output_size(5, True), r"kernel_size must be an integer.*True"),
    "float stride": (lambda: utils.conv2d_im2col(X, W, stride=1.5), r"stride must be an integer.*1\.5"),
    "bool padding": (lambda: utils.conv2d_naive(X, W, padding=True), r"padding must be an integer.*True"),
    "triple padding": (lambda: utils.im2col(X, 3, padding=(1, 1, 1)), r"padding must be .* an \(h, w\) pair"),
    "stride 0": (lambda: utils.conv_output_size(5, 3, stride=0), r"stride must be >= 1, got 0"),
    "stride pair with 0": (
        lambda: utils.conv2d_naive(X, W, stride=(1, 0)),
        r"stride must be >= 1, got \(1, 0\)",
    ),
    "dilation 0": (lambda: utils.conv2d_naive(X, W, dilation=0), r"dilation must be >= 1, got 0"),
    "negative padding": (lambda: utils.im2col(X, 3, padding=-1), r"padding must be >= 0, got -1"),
    "kernel 0": (lambda: utils.im2col(X, 0), r"kernel_size must be >= 1, got 0"),
    "size 0": (lambda: utils.conv_output_size(0, 1), r"size must be >= 1, got 0"),
    "kernel too large": (lambda: utils.conv_output_size(5, 7), TOO_LARGE.format(7, 5)),
    "dilated kernel too large": (lambda: utils.conv2d_im2col(X, W, dilation=3), TOO_LARGE.format(7, 5)),
    "x 3-D (naive)": (
        lambda: utils.conv2d_naive(X[0], W),
        r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)",
    ),
    "x 3-D (im2col)": (lambda: utils.im2col(X[0], 3), r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    "w 3-D": (
        lambda: utils.conv2d_im2col(X, W[0]),
        r"w must be 4-D \(K, C, kh, kw\), got shape \(3, 3, 3\)$",
    ),
    "channels differ": (
        lambda: utils.conv2d_naive(X, W[:, :2]),
        r"w must have as many channels as x: w.shape\[1\] = 2, x.shape\[1\] = 3$",
    ),
    "channels differ (im2col)": (
        lambda: utils.conv2d_im2col(X, np.zeros((2, 4, 3, 3))),
        r"w must have as many channels as x: w.shape\[1\] = 4, x.shape\[1\] = 3$",
    ),
    "bias too long": (
        lambda: utils.conv2d_im2col(X, W, b=np.zeros(3)),
        r"b must have shape \(K,\), one bias",
    ),
    "bias 2-D": (lambda: utils.conv2d_naive(X, W, b=np.zeros((2, 1))), r"b must have shape \(K,\).*\(2, 1\)"),
    "cols 2-D": (
        lambda: utils.col2im(COLS[0], 5, 3),
        r"cols must be 3-D \(N, C\*kh\*kw, L\), got shape \(18, 9\)$",
    ),
    "cols rows not a multiple of kh*kw": (
        lambda: utils.col2im(COLS[:, :17], 5, 3),
        r"cols must have C\*kh\*kw rows, a multiple of kh\*kw = 9, got 17$",
    ),
    "cols without rows": (lambda: utils.col2im(COLS[:, :0], 5, 3), r"cols must have C\*kh\*kw rows.*got 0$"),
    "cols of another stride": (
        lambda: utils.col2im(COLS, 5, 3, stride=2),
        r"cols must have L = H_out\*W_out = 4 columns .*, got 9$",
    ),
    "float input size": (lambda: utils.col2im(COLS, 5.0, 3), r"input_size must be an integer.*5\.0"),
    "input size 0": (lambda: utils.col2im(COLS, (5, 0), 3), r"input_size must be >= 1, got \(5, 0\)"),
    "kernel larger than the input": (lambda: utils.col2im(COLS, 2, 3), TOO_LARGE.format(3, 2)),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_raises_a_clear_value_error(name):
    call, message = BAD_INPUTS[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_every_rule_holds_for_every_function_and_setting():
    calls = [
        lambda **g: utils.conv_output_size(5, 3, **g),
        lambda **g: utils.conv2d_naive(X, W, **g),
        lambda **g: utils.im2col(X, 3, **g),
        lambda **g: utils.conv2d_im2col(X, W, **g),
        lambda **g: utils.col2im(COLS, 5, 3, **g),
    ]
    rules = [
        ("stride", 0, ">= 1"),
        ("dilation", 0, ">= 1"),
        ("padding", -2, ">= 0"),
        ("stride", 2.0, "an integer"),
    ]
    for call, (name, value, rule) in itertools.product(calls, rules):
        with pytest.raises(ValueError, match=f"{name} must be {rule}"):
            call(**{name: value})

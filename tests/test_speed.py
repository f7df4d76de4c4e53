"""The fast (blocked) im2col and the per-offset convolution: right answers, lean memory.

Times are not tested here (a shared machine makes them noisy): benchmarks/bench_conv.py
prints them and says whether the targets are met. Memory is deterministic, so it is tested.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_utils import random_configs

import utils

FLOAT_TOLERANCES = [(np.float32, 1e-4), (np.float64, 1e-10)]


def reference(x, w, b=None, **geometry) -> np.ndarray:
    """F.conv2d on NumPy arrays."""
    bias = None if b is None else torch.from_numpy(b)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, **geometry).numpy()


# --- conv2d_per_offset against PyTorch ---------------------------------------------------------


@pytest.mark.parametrize("dtype, rel_tol", FLOAT_TOLERANCES)
def test_conv2d_per_offset_matches_f_conv2d(dtype, rel_tol):
    rng = np.random.default_rng(10)
    configs = random_configs(60, seed=11)
    # The sweep covers pairs, strides, padding and dilation, not only the easy square case.
    assert any(c["stride"][0] != c["stride"][1] for c in configs)
    assert any(max(c["dilation"]) > 1 and max(c["padding"]) > 0 and max(c["stride"]) > 1 for c in configs)
    for c in configs:
        n, channels, filters = (int(v) for v in rng.integers(1, 5, 3))
        x = rng.standard_normal((n, channels, *c["size"])).astype(dtype)
        w = rng.standard_normal((filters, channels, *c["kernel"])).astype(dtype)
        b = rng.standard_normal(filters).astype(dtype)
        geometry = {"stride": c["stride"], "padding": c["padding"], "dilation": c["dilation"]}
        expected = reference(x, w, b, **geometry)
        got = utils.conv2d_per_offset(x, w, b, **geometry)
        assert got.shape == expected.shape, c
        assert got.dtype == dtype, c
        assert np.abs(got - expected).max() <= rel_tol * max(np.abs(expected).max(), 1.0), c


def test_conv2d_per_offset_without_bias_and_with_a_1x1_kernel():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 9, 7))
    for w, geometry in [
        (rng.standard_normal((4, 3, 3, 2)), {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)}),
        (rng.standard_normal((5, 3, 1, 1)), {}),
    ]:
        expected = reference(x, w, **geometry)
        np.testing.assert_allclose(utils.conv2d_per_offset(x, w, **geometry), expected, atol=1e-12)


def test_all_three_numpy_convolutions_agree_on_the_seed_posts_shapes():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    expected = reference(x, w, b)
    for conv in (utils.conv2d_naive, utils.conv2d_im2col, utils.conv2d_per_offset):
        got = conv(x, w, b)
        assert got.shape == (1, 1, 28, 28)
        assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max(), conv.__name__


X = np.zeros((1, 3, 5, 5))
W = np.zeros((2, 3, 3, 3))

PER_OFFSET_BAD_INPUTS = {
    "float stride": ({"stride": 1.5}, X, W, None, r"stride must be an integer.*1\.5"),
    "stride 0": ({"stride": 0}, X, W, None, r"stride must be >= 1, got 0"),
    "dilation pair with 0": ({"dilation": (0, 1)}, X, W, None, r"dilation must be >= 1, got \(0, 1\)"),
    "negative padding": ({"padding": -2}, X, W, None, r"padding must be >= 0, got -2"),
    "bool padding": ({"padding": True}, X, W, None, r"padding must be an integer.*True"),
    "dilated kernel too large": (
        {"dilation": 3},
        X,
        W,
        None,
        r"kernel_size: the dilated kernel spans .* = 7 cells, more than the padded input .* = 5",
    ),
    "x 3-D": ({}, X[0], W, None, r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    "w 3-D": ({}, X, W[0], None, r"w must be 4-D \(K, C, kh, kw\), got shape \(3, 3, 3\)"),
    "channels differ": ({}, X, W[:, :2], None, r"w has 2 channels but x has 3"),
    "bias too long": ({}, X, W, np.zeros(3), r"b must have shape \(K,\) = \(2,\), one bias per filter"),
}


@pytest.mark.parametrize("name", PER_OFFSET_BAD_INPUTS)
def test_conv2d_per_offset_rejects_bad_input_like_the_others(name):
    geometry, x, w, b, message = PER_OFFSET_BAD_INPUTS[name]
    for conv in (utils.conv2d_per_offset, utils.conv2d_im2col, utils.conv2d_naive):
        with pytest.raises(ValueError, match=message):
            conv(x, w, b, **geometry)


# --- im2col stays exactly unfold; the dtype stays --------------------------------------------


def test_im2col_is_unfold_on_non_contiguous_input_and_returns_its_own_array():
    rng = np.random.default_rng(14)
    base = rng.standard_normal((6, 2, 9, 11)).astype(np.float32)
    x = base.transpose(1, 0, 3, 2)[:, ::2]  # (2, 3, 11, 9), no longer C-contiguous
    for kernel, geometry in [(1, {}), ((2, 3), {"stride": (2, 1), "padding": (0, 2), "dilation": (3, 1)})]:
        expected = F.unfold(torch.from_numpy(np.ascontiguousarray(x)), kernel, **geometry).numpy()
        got = utils.im2col(x, kernel, **geometry)
        np.testing.assert_array_equal(got, expected)
        # The columns are a fresh, writeable array, as unfold's are: never a view of x.
        assert got.flags.writeable and got.flags.c_contiguous
        assert not np.shares_memory(got, base)


def test_the_batch_last_columns_are_im2cols_columns_side_by_side():
    rng = np.random.default_rng(17)
    for c in random_configs(40, seed=18):
        x = rng.standard_normal((3, 2, *c["size"]))
        geometry = {"stride": c["stride"], "padding": c["padding"], "dilation": c["dilation"]}
        cols = utils.im2col(x, c["kernel"], **geometry)  # (N, C*kh*kw, L)
        n_images, rows, length = cols.shape
        side_by_side = cols.transpose(1, 0, 2).reshape(rows, n_images * length)
        windows = utils._windows(x, c["kernel"], **geometry)
        np.testing.assert_array_equal(utils._side_by_side(windows), side_by_side)


@pytest.mark.parametrize("conv", [utils.conv2d_im2col, utils.conv2d_per_offset])
def test_the_output_is_a_fresh_c_contiguous_array(conv):
    x = np.ones((2, 3, 6, 6), dtype=np.float32)
    out = conv(x, np.ones((4, 3, 1, 1), dtype=np.float32))
    assert out.flags.c_contiguous and out.flags.writeable
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("conv", [utils.conv2d_im2col, utils.conv2d_per_offset])
def test_the_dtype_of_the_inputs_is_kept(conv):
    rng = np.random.default_rng(15)
    x64 = rng.standard_normal((2, 3, 8, 8))
    w64 = rng.standard_normal((4, 3, 3, 3))
    x32, w32 = x64.astype(np.float32), w64.astype(np.float32)
    assert conv(x32, w32, np.zeros(4, np.float32), padding=1).dtype == np.float32
    assert conv(x64, w64, padding=1).dtype == np.float64
    # Mixed: NumPy's rule (float64 wins), and the values of the float64 convolution.
    mixed = conv(x32, w64, padding=1)
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed, reference(x32.astype(np.float64), w64, padding=1), atol=1e-12)


# --- memory -------------------------------------------------------------------------------------

N, C, H, K, KS = 16, 8, 24, 12, 3  # a moderate case: x 16x8x24x24, w 12x8x3x3, padding 1
FLOAT32 = 4
COLS = N * C * KS * KS * H * H * FLOAT32  # the column matrix (N, C*kh*kw, L)
OUT = N * K * H * H * FLOAT32  # the output (N, K, H, W)
X_PAD = N * C * (H + 2) * (H + 2) * FLOAT32
CELLS = N * C * H * H * FLOAT32  # what one kernel offset meets, (N, C, L)


def moderate_inputs():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w = rng.standard_normal((K, C, KS, KS), dtype=np.float32)
    b = rng.standard_normal(K, dtype=np.float32)
    return x, w, b


def test_conv2d_im2col_holds_one_block_of_columns_and_the_output():
    x, w, b = moderate_inputs()
    image_cols = COLS // N  # the columns of one image
    block = utils.COLUMN_BLOCK_BYTES // image_cols
    assert 1 < block < N, "the moderate case must need several blocks"
    x_many = np.concatenate([x] * 4)  # 64 images: many blocks
    peak = utils.peak_memory(lambda: utils.conv2d_im2col(x_many, w, b, padding=1))
    block_cols, out = block * image_cols, 4 * OUT
    # One block's columns and the whole output, with little else (the padded input and one
    # block's multiply result); never the column matrix of the whole batch.
    expected = block_cols + out + 4 * X_PAD + block * K * H * H * FLOAT32
    assert block_cols + out <= peak <= 1.1 * expected, (peak, expected)
    assert peak < 0.5 * (4 * COLS + out)


@pytest.mark.parametrize("block_bytes", [1, 3 * 4 * 2 * 9 * 25, 2**40])
def test_conv2d_im2col_gives_the_same_result_for_any_block_size(block_bytes, monkeypatch):
    """One image per block, three per block (7 is not a multiple of 3), all in one block."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((7, 2, 6, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    geometry = {"stride": (1, 2), "padding": 1, "dilation": (2, 1)}  # 25 output positions
    expected = reference(x, w, b, **geometry)
    monkeypatch.setattr(utils, "COLUMN_BLOCK_BYTES", block_bytes)
    got = utils.conv2d_im2col(x, w, b, **geometry)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_im2col_holds_no_more_than_its_columns_and_the_padded_input():
    x, _, _ = moderate_inputs()
    peak = utils.peak_memory(lambda: utils.im2col(x, KS, padding=1))
    assert COLS <= peak <= 1.01 * (COLS + X_PAD), (peak, COLS)


def test_conv2d_per_offset_never_builds_the_columns():
    x, w, b = moderate_inputs()
    peak = utils.peak_memory(lambda: utils.conv2d_per_offset(x, w, b, padding=1))
    # At most: the padded input, the output, one term of it and the cells of one offset.
    assert OUT <= peak <= 1.1 * (X_PAD + 2 * OUT + CELLS), peak
    assert peak < 0.6 * COLS


def test_mixed_dtypes_do_not_copy_the_columns_twice():
    x, w, _ = moderate_inputs()
    peak = utils.peak_memory(lambda: utils.conv2d_im2col(x, w.astype(np.float64), padding=1))
    # float64 blocks and output, plus x converted to float64; never float32 and float64 columns.
    assert peak <= 1.25 * 2 * (COLS + OUT), (peak, 2 * (COLS + OUT))


# --- peak_memory --------------------------------------------------------------------------------


def test_peak_memory_counts_temporaries_and_the_result():
    def make() -> np.ndarray:
        temporary = np.ones(1_000_000)  # 8 MB, freed before returning
        return temporary[:500_000].copy()  # 4 MB, kept

    assert 12_000_000 <= utils.peak_memory(make) < 12_100_000
    assert utils.peak_memory(lambda: None) < 10_000

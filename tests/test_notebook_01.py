"""Notebook 01, the CS231n example: it runs clean, its numbers (recomputed here from its own arrays),
its exercise's checks (planted mistakes named, the answer never given)."""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import re

import numpy as np
import torch
import torch.nn.functional as F

import notebook_checks as checks
import utils

NOTEBOOK = "01_cs231n_worked_example"


# --- the notebook's numbers ---------------------------------------------------------------------


def example(notebook) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's input x (1, 3, 5, 5), weights w (2, 3, 3, 3) and biases b (2,)."""
    return tuple(np.array(notebook.value(f"{name}.tolist()")) for name in ("x", "w", "b"))


def conv(notebook, stride: int = 2, flip: bool = False) -> np.ndarray:
    """PyTorch's convolution of the notebook's arrays, run here, in float64 (filters flipped or not)."""
    x, w, b = (torch.tensor(a, dtype=torch.float64) for a in example(notebook))
    return F.conv2d(x, w.flip(-2, -1) if flip else w, b, stride=stride, padding=1).numpy()


def test_the_numbers_are_in_the_demo_style(notebook):
    x, w, b = example(notebook)
    assert x.shape == (1, 3, 5, 5) and set(np.unique(x)) <= {0, 1, 2}
    assert w.shape == (2, 3, 3, 3) and set(np.unique(w)) <= {-1, 0, 1}
    assert b.tolist() == [1, 0]


def test_the_loop_gives_what_pytorch_gives_here(notebook):
    assert np.array_equal(np.array(notebook.value("output.tolist()")), conv(notebook))


def test_the_explained_value_is_2_and_the_sum_of_its_27_products_plus_bias(notebook):
    x, w, b = example(notebook)
    k, i, j = notebook.value("explained")
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    products = x_pad[0, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * w[k]  # (3, 3, 3)
    assert products.size == 27
    assert products.sum() + b[k] == 2 == conv(notebook)[0, k, i, j]
    # The notebook's figure shows these 27 products, channel by channel, row by row.
    assert np.array_equal(np.array(notebook.value("products.tolist()")), products)
    assert notebook.value("channel_totals.tolist()") == products.sum(axis=(1, 2)).tolist()
    # Every channel adds a different, non-zero amount (the reason for the seed).
    assert len(set(products.sum(axis=(1, 2)).tolist()) - {0}) == 3


def draw_example(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's draw_example, repeated here: x (1, 3, 5, 5) and w (2, 3, 3, 3)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 3, size=(1, 3, 5, 5)), rng.integers(-1, 2, size=(2, 3, 3, 3))


def is_good(seed: int) -> bool:
    """Does this seed give a 2 at output (0, 1) of w0 with three different, non-zero channel sums?"""
    x, w = draw_example(seed)
    window = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))[0, :, 0:3, 2:5]
    sums = (window * w[0]).sum(axis=(1, 2))
    return sums.sum() + 1 == 2 and len(set(sums.tolist()) - {0}) == 3


def test_the_seed_is_the_first_that_gives_a_2_worth_explaining(notebook):
    seed = notebook.value("example_seed")
    assert notebook.value("explained") == [0, 0, 1]
    assert is_good(seed) and not any(is_good(s) for s in range(seed))
    x, w = draw_example(seed)
    notebook_x, notebook_w, _ = example(notebook)
    assert np.array_equal(x, notebook_x) and np.array_equal(w, notebook_w)


def test_flipping_the_kernel_is_the_textbook_convolution(notebook):
    flipped = conv(notebook, flip=True)
    np.testing.assert_array_equal(np.array(notebook.value("true_convolution.tolist()")), flipped)
    assert notebook.value("flip_changes") == int((flipped != conv(notebook)).sum()) > 0
    # The 1-D example is one where flipping matters: convolution and correlation differ.
    signal, taps = (np.array(notebook.value(f"{name}.tolist()")) for name in ("signal", "taps"))
    assert notebook.value("numpy_convolution.tolist()") != np.correlate(signal, taps, mode="valid").tolist()


def test_the_sum_written_out_matches_the_table(notebook):
    text = checks.printed(notebook.nb, "explained_value =")
    channel_sums = [int(s) for s in re.findall(r"^channel \d: .* = (-?\d+)$", text, re.MULTILINE)]
    assert channel_sums == notebook.value("channel_totals.tolist()")
    assert text.rstrip().endswith("= 2")


def test_the_animation_has_one_frame_per_output_cell_works_offline_and_no_static_copy(notebook):
    cells = [c for c in notebook.nb.cells if c.cell_type == "code"]
    figure = next(c for c in cells if "def draw_frame" in c.source)
    assert figure.outputs == [], "the animation's figure is not shown as a still"
    cell = next(c for c in cells if "utils.animation_html(" in c.source)
    assert len(cell.outputs) == 1, "only the animation"
    html = cell.outputs[0]["data"]["text/html"]
    assert len(re.findall(r"frames\[\d+\] = \"data:image/png;base64", html)) == 9
    assert len(html) < 500_000, f"the animation is {len(html) // 1000} kB"
    assert "https://" not in html and '<i class="fa' not in html, "the player needs nothing from the internet"
    assert 'title="Play"' in html


def test_why_convolution_parameter_counts(notebook):
    assert notebook.value("conv_parameters") == (5 * 5 * 3 + 1) * 4 == 304
    assert notebook.value("dense_parameters") == (32 * 32 * 3 + 1) * (4 * 28 * 28) == 9_636_928
    text = checks.printed(notebook.nb, "dense_parameters / conv_parameters")
    assert f"{9_636_928 / 304:,.0f} times as many" in text


def test_local_connectivity_and_weight_sharing_on_the_example(notebook):
    x, w, _ = example(notebook)
    unit = torch.eye(75, dtype=torch.float64).view(75, 3, 5, 5)
    w0 = torch.tensor(w[:1], dtype=torch.float64)
    matrix = F.conv2d(unit, w0, stride=2, padding=1).view(75, 9).T.numpy()
    np.testing.assert_array_equal(np.array(notebook.value("matrix_w0.tolist()")), matrix)
    # Output (i, j) reads the real (not padding) cells of its 3x3 window in 3 channels.
    rows = [min(2 * i + 2, 5) - max(2 * i - 1, 0) for i in range(3)]
    expected = [3 * rows[i] * rows[j] for i in range(3) for j in range(3)]
    assert notebook.value("inputs_read.tolist()") == expected
    assert max(expected) == 27 and min(expected) == 12


def test_shift_equivariance_holds_at_stride_1_and_for_whole_strides_only(notebook):
    x, w, b = (torch.tensor(a, dtype=torch.float64) for a in example(notebook))
    scene = torch.zeros(1, 3, 9, 9, dtype=torch.float64)
    scene[:, :, 2:7, 2:7] = x

    def out(image, stride):
        return F.conv2d(image, w, b, stride=stride, padding=1)

    def shift(t, c):
        return torch.roll(t, c, dims=3)

    assert torch.equal(out(shift(scene, 1), 1), shift(out(scene, 1), 1))
    assert not any(torch.equal(out(shift(scene, 1), 2), shift(out(scene, 2), c)) for c in range(5))
    assert torch.equal(out(shift(scene, 2), 2), shift(out(scene, 2), 1))
    assert notebook.value("[stride1_equivariant, stride2_any_shift, stride2_by_2]") == [True, False, True]


def test_symmetric_kernels_need_no_flip_and_sobel_changes_sign():
    sobel_x, sobel_y, laplacian = utils.edge_filters(1)[:, 0]
    assert torch.equal(laplacian.flip(0, 1), laplacian)
    assert torch.equal(sobel_x.flip(0, 1), -sobel_x) and torch.equal(sobel_y.flip(0, 1), -sobel_y)


# --- the exercise: planted mistakes -------------------------------------------------------------

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
PLANTED = [
    (
        "ex1a-check",
        "def output_shape(x_shape, w_shape, stride, padding):\n    n, c, h, w = x_shape\n    k, _, kh, kw = w_shape\n    return (n, k, (h + padding - kh) // stride + 1, (w + padding - kw) // stride + 1)",
        "padding counted once",
    ),
    (
        "ex1a-check",
        "def output_shape(x_shape, w_shape, stride, padding):\n    n, c, h, w = x_shape\n    k, _, kh, kw = w_shape\n    return (n, c, (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1)",
        "one output channel per filter",
    ),
    (
        "ex1a-check",
        "def output_shape(x_shape, w_shape, stride, padding):\n    n, c, h, w = x_shape\n    k, _, kh, kw = w_shape\n    return (n, k, (h + 2 * padding - kh) / stride + 1, (w + 2 * padding - kw) / stride + 1)",
        "expected an int, got the float",
    ),
    (
        "ex1a-check",
        "def output_shape(x_shape, w_shape, stride, padding):\n    return tuple(F.conv2d(torch.zeros(x_shape), torch.zeros(w_shape), stride=stride, padding=padding).shape)",
        "which is a convolution routine",
    ),
    ("ex1a-check", "def output_shape(x_shape, w_shape, stride, padding):\n    pass", "got None"),
    (
        "ex1b-check",
        "def window_start(i, j, stride, padding):\n    return (j * stride, i * stride)",
        "row and column swapped",
    ),
    ("ex1b-check", "def window_start(i, j, stride, padding):\n    return (i, j)", "multiply by the stride"),
    (
        "ex1b-check",
        "def window_start(i, j, stride, padding):\n    return (i * stride - padding, j * stride - padding)",
        "counted in the unpadded input",
    ),
    (
        "ex1c-check",
        "def output_value(x, w, b, k, i, j, stride, padding):\n    x_pad = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))\n    kh, kw = w.shape[2:]\n    return float((x_pad[:, i * stride : i * stride + kh, j * stride : j * stride + kw] * w[k]).sum())",
        "the bias b[k] is missing",
    ),
    (
        "ex1c-check",
        "def output_value(x, w, b, k, i, j, stride, padding):\n    x_pad = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))\n    kh, kw = w.shape[2:]\n    return float((x_pad[:, i * stride : i * stride + kh, j * stride : j * stride + kw] * w[k][:, ::-1, ::-1]).sum() + b[k])",
        "the filter is flipped",
    ),
    (
        "ex1c-check",
        "def output_value(x, w, b, k, i, j, stride, padding):\n    out = getattr(F, 'conv' + '2d')(torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding)\n    return out[0, k, i, j].item()",
        "which is a convolution routine",
    ),
    (
        "ex1c-check",
        "def output_value(x, w, b, k, i, j, stride, padding):\n    return utils.conv2d_naive(x[None], w, b, stride, padding)[0, k, i, j]",
        "which is a convolution routine",
    ),
    (
        "ex1c-check",
        "def output_value(x, w, b, k, i, j, stride, padding):\n    x_pad = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))\n    kh, kw = w.shape[2:]\n    x[:] = 0\n    return float((x_pad[:, i * stride : i * stride + kh, j * stride : j * stride + kw] * w[k]).sum() + b[k])",
        "in place",
    ),
]

# What no failure message of a part may show: the expected values of its visible cases.
SECRETS = {"ex1a-check": [r"\(1, 2, 3, 3\)"], "ex1b-check": [r"\(0, 3\)"]}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""

"""utils.py against PyTorch: the output-size formula, the three convolutions, bad input."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import utils


def random_configs(count: int, seed: int, max_size: int = 12):
    """Random convolution geometries (with pairs, strides, padding, dilation) that fit."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        size = tuple(int(v) for v in rng.integers(1, max_size + 1, 2))
        kernel = tuple(int(v) for v in rng.integers(1, 6, 2))
        stride = tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = tuple(int(v) for v in rng.integers(0, 3, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        if all(s <= n + 2 * p for s, n, p in zip(spans, size, padding, strict=True)):
            found.append(
                {"size": size, "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
            )
    return found


def conv2d_output_shape(size, kernel, stride, padding, dilation) -> tuple[int, int]:
    """The output (H, W) that nn.Conv2d itself produces."""
    conv = torch.nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation, bias=False)
    with torch.no_grad():
        return tuple(conv(torch.zeros(1, 1, *size)).shape[2:])


# --- conv_output_size ---------------------------------------------------------------------------


def test_output_size_matches_nn_conv2d_on_600_configurations():
    configs = random_configs(600, seed=0, max_size=40)
    partial_windows = 0
    for c in configs:
        expected = conv2d_output_shape(c["size"], c["kernel"], c["stride"], c["padding"], c["dilation"])
        got = utils.conv_output_size(c["size"], c["kernel"], c["stride"], c["padding"], c["dilation"])
        assert got == expected, c
        spans = [d * (k - 1) + 1 for k, d in zip(c["kernel"], c["dilation"], strict=True)]
        partial_windows += any(
            (n + 2 * p - span) % s
            for n, p, span, s in zip(c["size"], c["padding"], spans, c["stride"], strict=True)
        )
    # The sweep must include many cases where the floor drops a partial window.
    assert partial_windows >= 100


def test_output_size_with_ints_is_an_int_and_with_a_pair_is_a_pair():
    assert utils.conv_output_size(32, 5) == 28
    assert isinstance(utils.conv_output_size(32, 5), int)
    assert utils.conv_output_size(5, 3, stride=2, padding=1) == 3  # the CS231n example
    assert utils.conv_output_size((32, 30), 5, stride=(1, 2)) == (28, 13)
    assert utils.conv_output_size(7, 3, dilation=(2, 1)) == (3, 5)


def test_output_size_floor_drops_the_partial_window():
    # 6 cells, window 3, stride 2: windows start at 0 and 2; a third would need cells 4..6.
    assert utils.conv_output_size(6, 3, stride=2) == 2


# --- the convolutions against PyTorch ---------------------------------------------------------


@pytest.mark.parametrize("dtype, rel_tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
def test_convolutions_match_f_conv2d(dtype, rel_tol):
    rng = np.random.default_rng(1)
    for c in random_configs(40, seed=2):
        n, channels, filters = (int(v) for v in rng.integers(1, 4, 3))
        x = rng.standard_normal((n, channels, *c["size"])).astype(dtype)
        w = rng.standard_normal((filters, channels, *c["kernel"])).astype(dtype)
        b = rng.standard_normal(filters).astype(dtype)
        geometry = {"stride": c["stride"], "padding": c["padding"], "dilation": c["dilation"]}
        expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **geometry).numpy()
        tolerance = rel_tol * max(np.abs(expected).max(), 1.0)
        for conv in (utils.conv2d_naive, utils.conv2d_im2col):
            got = conv(x, w, b, **geometry)
            assert got.shape == expected.shape, (conv.__name__, c)
            assert got.dtype == dtype, (conv.__name__, c)
            assert np.abs(got - expected).max() <= tolerance, (conv.__name__, c)


def test_convolutions_without_bias():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 8, 7))
    w = rng.standard_normal((4, 3, 3, 3))
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(utils.conv2d_naive(x, w, padding=1), expected, atol=1e-12)
    np.testing.assert_allclose(utils.conv2d_im2col(x, w, padding=1), expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_is_exactly_unfold(dtype):
    rng = np.random.default_rng(4)
    for c in random_configs(60, seed=5):
        x = rng.standard_normal((2, 3, *c["size"])).astype(dtype)
        geometry = {"stride": c["stride"], "padding": c["padding"], "dilation": c["dilation"]}
        expected = F.unfold(torch.from_numpy(x), c["kernel"], **geometry).numpy()
        got = utils.im2col(x, c["kernel"], **geometry)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected, err_msg=str(c))


def test_the_seed_posts_shapes():
    x = np.zeros((1, 3, 32, 32), dtype=np.float32)
    assert utils.im2col(x, 5).shape == (1, 75, 784)
    w = np.zeros((1, 3, 5, 5), dtype=np.float32)
    assert utils.conv2d_im2col(x, w).shape == (1, 1, 28, 28)


# --- bad input ----------------------------------------------------------------------------------

X = np.zeros((1, 3, 5, 5))
W = np.zeros((2, 3, 3, 3))

BAD_INPUTS = {
    "float size": (lambda: utils.conv_output_size(5.0, 3), r"size must be an integer.*5\.0"),
    "bool kernel": (lambda: utils.conv_output_size(5, True), r"kernel_size must be an integer.*True"),
    "float stride": (lambda: utils.conv2d_im2col(X, W, stride=1.5), r"stride must be an integer.*1\.5"),
    "triple padding": (
        lambda: utils.im2col(X, 3, padding=(1, 1, 1)),
        r"padding must be an int or an \(h, w\) pair",
    ),
    "stride 0": (lambda: utils.conv_output_size(5, 3, stride=0), r"stride must be >= 1, got 0"),
    "stride pair with 0": (
        lambda: utils.conv2d_naive(X, W, stride=(1, 0)),
        r"stride must be >= 1, got \(1, 0\)",
    ),
    "dilation 0": (lambda: utils.conv2d_naive(X, W, dilation=0), r"dilation must be >= 1, got 0"),
    "negative padding": (lambda: utils.im2col(X, 3, padding=-1), r"padding must be >= 0, got -1"),
    "kernel 0": (lambda: utils.im2col(X, 0), r"kernel_size must be >= 1, got 0"),
    "size 0": (lambda: utils.conv_output_size(0, 1), r"size must be >= 1, got 0"),
    "kernel too large": (
        lambda: utils.conv_output_size(5, 7),
        r"kernel_size: the dilated kernel spans .* = 7 cells, more than the padded input .* = 5",
    ),
    "dilated kernel too large": (
        lambda: utils.conv2d_im2col(X, W, dilation=3),
        r"kernel_size: the dilated kernel spans .* = 7 cells, more than the padded input .* = 5",
    ),
    "x 3-D (naive)": (
        lambda: utils.conv2d_naive(X[0], W),
        r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)",
    ),
    "x 3-D (im2col)": (lambda: utils.im2col(X[0], 3), r"x must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"),
    "x 3-D (conv2d_im2col)": (lambda: utils.conv2d_im2col(X[0], W), r"x must be 4-D"),
    "w 3-D": (lambda: utils.conv2d_im2col(X, W[0]), r"w must be 4-D \(K, C, kh, kw\), got shape \(3, 3, 3\)"),
    "channels differ": (
        lambda: utils.conv2d_naive(X, W[:, :2]),
        r"w has 2 channels but x has 3: w.shape\[1\] must equal x.shape\[1\]",
    ),
    "bias too long": (
        lambda: utils.conv2d_im2col(X, W, b=np.zeros(3)),
        r"b must have shape \(K,\) = \(2,\), one bias per filter, got \(3,\)",
    ),
    "bias 2-D": (lambda: utils.conv2d_naive(X, W, b=np.zeros((2, 1))), r"b must have shape \(K,\) = \(2,\)"),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_raises_a_clear_value_error(name):
    call, message = BAD_INPUTS[name]
    with pytest.raises(ValueError, match=message):
        call()


def test_every_rule_holds_for_every_geometry_argument():
    for (name, value, rule), conv in itertools.product(
        [("stride", 0, ">= 1"), ("dilation", 0, ">= 1"), ("padding", -2, ">= 0")],
        (utils.conv2d_naive, utils.conv2d_im2col),
    ):
        with pytest.raises(ValueError, match=f"{name} must be {rule}"):
            conv(X, W, **{name: value})


# --- plots, timings, display ------------------------------------------------------------------


def test_plot_grid_writes_every_value_and_outlines_the_box():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    utils.plot_grid(np.arange(6).reshape(2, 3), ax, "six cells", box=(0, 1, 2, 2))
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2", "3", "4", "5"]
    assert ax.get_title() == "six cells"
    assert len(ax.patches) == 1
    with pytest.raises(ValueError, match=r"values must be 2-D \(H, W\), got shape \(2, 1, 3\)"):
        utils.plot_grid(np.zeros((2, 1, 3)), ax, "bad")
    plt.close(fig)


def test_plot_grid_fixes_the_colour_scale_and_leaves_nan_cells_blank():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    utils.plot_grid(np.array([[0.0, np.nan], [2.0, 1.0]]), ax, "with a gap", vmin=-1, vmax=3)
    assert [t.get_text() for t in ax.texts] == ["0", "2", "1"]
    assert ax.collections[0].get_clim() == (-1, 3)
    assert ax.get_ylim() == (2, 0), "row 0 is drawn at the top"
    plt.close(fig)


def test_benchmark_times_every_function_in_milliseconds():
    calls = {"a": 0, "b": 0}

    def count(name):
        calls[name] += 1

    table = utils.benchmark({"a": lambda: count("a"), "b": lambda: count("b")}, repeats=3)
    assert list(table.index) == ["a", "b"]
    assert calls == {"a": 4, "b": 4}  # one warm-up call, then one per round
    assert (table["min_ms"] <= table["median_ms"]).all() and (table["min_ms"] >= 0).all()


def test_unnormalize_inverts_normalize():
    image = torch.rand(3, 4, 5)
    normalized = utils.cifar10_transform(normalize=True).transforms[1](image)
    assert normalized.min() < 0  # in [-1, 1]
    np.testing.assert_allclose(utils.unnormalize(normalized), image.permute(1, 2, 0).numpy(), atol=1e-6)
    assert utils.unnormalize(normalized).shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"image must be 3-D \(C, H, W\), got shape \(1, 3, 4, 5\)"):
        utils.unnormalize(image[None])


def test_every_public_function_has_a_docstring():
    public = [getattr(utils, n) for n in dir(utils) if not n.startswith("_")]
    own = [f for f in public if callable(f) and getattr(f, "__module__", None) == "utils"]
    assert len(own) >= 8
    for function in own:
        assert function.__doc__ and len(function.__doc__.strip()) > 20, function.__name__


# --- check: the feedback of the exercises -----------------------------------------------------


def test_check_prints_a_tick_when_right(capsys):
    utils.check("output height", 28, 28)
    utils.check("a float", 0.1 + 0.2, 0.3, atol=1e-12)
    utils.check("an array", torch.ones(2, 2, requires_grad=True), np.ones((2, 2)))
    assert capsys.readouterr().out.count("correct") == 3


CHECK_FAILURES = {
    "wrong int": (27, 28, 0.0, r"^output: expected 28, got 27$"),
    "unanswered": (None, 28, 0.0, r"^output: expected 28, got None$"),
    "wrong float": (0.5, 0.25, 1e-6, r"^output: expected 0.25, got 0.5$"),
    "a string for a float": ("0.25", 0.25, 1e-6, r"^output: expected 0.25, got '0.25'$"),
    "nan for a float": (float("nan"), 0.25, 1e-6, r"expected 0.25, got nan"),
    "wrong shape": (
        np.zeros((2, 3)),
        np.zeros((3, 3)),
        0.0,
        r"expected an array of shape \(3, 3\), got shape \(2, 3\)",
    ),
    "no array": (None, np.zeros(3), 0.0, r"expected an array of shape \(3,\), got None"),
    "wrong values": (np.ones(3), np.zeros(3), 0.5, r"values differ from the expected ones by up to 1$"),
    "nan values": (
        np.full(3, np.nan),
        np.zeros(3),
        0.5,
        r"values differ from the expected ones by up to nan",
    ),
}


@pytest.mark.parametrize("name", CHECK_FAILURES)
def test_check_says_what_was_expected_and_what_came(name):
    got, expected, atol, message = CHECK_FAILURES[name]
    with pytest.raises(AssertionError, match=message):
        utils.check("output", got, expected, atol=atol)


def test_a_figure_is_described_by_its_own_titles_and_labels():
    import matplotlib.pyplot as plt

    from utils import _describe_figure

    fig, (left, right) = plt.subplots(1, 2)
    fig.suptitle("Input x:\n5 x 5")
    left.set_title("channel 0")
    right.set(title="channel 1", xlabel="column", ylabel="row")
    fig.colorbar(right.imshow([[0, 1]]), ax=right, label="value")
    assert _describe_figure(fig) == (
        "Input x: 5 x 5. Panels: channel 0; channel 1 (x: column, y: row); colour bar (y: value)."
    )
    plt.close(fig)
    fig, ax = plt.subplots()
    assert _describe_figure(fig) == "", "nothing to describe it with"
    ax.set_title("one panel")
    assert _describe_figure(fig) == "one panel."
    plt.close(fig)

"""utils.py against PyTorch: the output-size formula, the three convolutions, bad input."""

import itertools
import re
import warnings

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


def test_check_prints_a_tick_for_every_equivalent_right_answer(capsys):
    right = [
        ("an int", 28, 28),
        ("a NumPy integer", np.int64(28), 28),
        ("a 0-d integer tensor", torch.tensor(28), 28),
        ("a float within atol", 0.1 + 0.2, 0.3),
        ("an int for a float", 3, 3.0),
        ("float32 for float64", np.float32(0.1), 0.1),
        ("a 0-d tensor for a float", torch.tensor(0.25, requires_grad=True), 0.25),
        ("a list for a tuple of ints", [1, 2, 5, 5], (1, 2, 5, 5)),
        ("a torch.Size", torch.Size([1, 2]), (1, 2)),
        ("a 1-d array for a tuple", np.array([3, 4]), (3, 4)),
        ("a tensor for an array", torch.ones(2, 2, requires_grad=True), np.ones((2, 2))),
        ("float32 values for float64 ones", np.full(3, 0.1, dtype=np.float32), np.full(3, 0.1)),
        ("a nested list for an array", [[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]])),
        ("a tuple for a list", (7, 8), [7, 8]),
        ("an empty list", [], []),
        ("a bool", True, True),
    ]
    for what, got, expected in right:
        utils.check(what, got, expected, atol=1e-6)
    assert capsys.readouterr().out.splitlines() == [f"\N{CHECK MARK} {what}: correct" for what, _, _ in right]


class AlwaysEqual(int):
    """What a student could hand in to fool a bare ``==``."""

    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class MeansNothing(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


CHECK_FAILURES = {
    # name: (got, expected, atol, a pattern of the message)
    "wrong int": (27, 28, 0.0, r"^output: not the right value$"),
    "forgotten return": (None, 28, 0.0, r"expected an integer, got None \(no value: does a function end"),
    "a float for an int": (3.0, 3, 0.0, r"expected an integer, got the float 3\.0: .*int\(\)"),
    "a bool for an int": (True, 1, 0.0, r"expected an integer, got the bool True$"),
    "a string for an int": ("28", 28, 0.0, r"expected an integer, got the string '28'$"),
    "an array for an int": (np.arange(3), 28, 0.0, r"expected an integer, got an array of shape \(3,\)$"),
    "a tensor for an int": (torch.ones(2, 2), 28, 0.0, r"got an array of shape \(2, 2\)$"),
    "wrong float": (0.5, 0.25, 1e-6, r"^output: not the right value$"),
    "nan for a float": (float("nan"), 0.25, 1e-6, r"not the right value"),
    "a string for a float": ("0.25", 0.25, 1e-6, r"expected a number, got the string '0.25'$"),
    "an int subclass with its own ==": (AlwaysEqual(5), 28, 0.0, r"class AlwaysEqual, which defines its own"),
    "a tensor subclass": (
        torch.ones(2).as_subclass(MeansNothing),
        np.ones(2),
        0,
        r"class MeansNothing, which",
    ),
    "an always-equal item": ([1, AlwaysEqual(2)], (1, 5), 0.0, r"item 1 \(counting from 0\): got an object"),
    "tuple() of a forgotten return": ((), (1, 2), 0.0, r"expected 2 items, got 0$"),
    "None for a tuple": (None, (1, 2), 0.0, r"expected a tuple of 2 items, got None"),
    "wrong item": ((1, 3), (1, 2), 0.0, r"item 1 \(counting from 0\): not the right value$"),
    "a float item": (
        (1, 2.0),
        (1, 2),
        0.0,
        r"item 1 \(counting from 0\): expected an integer, got the float",
    ),
    "wrong shape": (
        np.zeros((2, 3)),
        np.zeros((3, 3)),
        0.0,
        r"expected an array of shape \(3, 3\), got shape \(2, 3\)$",
    ),
    "axes in another order": (
        np.zeros((3, 2)),
        np.zeros((2, 3)),
        0.0,
        r"another order: check the order of the axes",
    ),
    "no array": (None, np.zeros(3), 0.0, r"expected an array, got None"),
    "text for an array": ("abc", np.zeros(3), 0.0, r"expected an array, got the string 'abc'"),
    "ragged list": ([[1, 2], [3]], np.zeros((2, 2)), 0.0, r"NumPy cannot turn into one"),
    "wrong values": (
        np.arange(4.0),
        np.array([0.0, 1.0, 9.0, 9.0]),
        0.5,
        r"2 of 4 values are wrong .*index \(2,\)$",
    ),
    "nan values": (np.full(3, np.nan), np.zeros(3), 0.5, r"3 of 3 values are wrong"),
    "a number for a bool": (1, True, 0.0, r"expected True or False, got the int 1"),
}


@pytest.mark.parametrize("name", CHECK_FAILURES)
def test_check_says_what_is_wrong_in_a_plain_sentence_without_the_answer(name):
    got, expected, atol, message = CHECK_FAILURES[name]
    with pytest.raises(AssertionError, match=message) as failure:
        utils.check("output", got, expected, atol=atol)
    text = str(failure.value)
    assert text.startswith("output: ")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        assert not re.search(rf"(?<![\d.]){re.escape(str(expected))}(?![\d])", text.replace(repr(got), ""))


def test_check_names_a_known_mistake_or_gives_the_hint():
    mistakes = [(6, "that is the total padding: padding is added on each side")]
    with pytest.raises(AssertionError) as failure:
        utils.check("padding", 6, 3, hint="Solve the formula for p", mistakes=mistakes)
    assert str(failure.value) == "padding: that is the total padding: padding is added on each side"
    with pytest.raises(AssertionError) as failure:
        utils.check("padding", 5, 3, hint="Solve the formula for p", mistakes=mistakes)
    assert str(failure.value) == "padding: not the right value. Solve the formula for p"
    with pytest.raises(AssertionError, match=r"^shape: that is the shape without padding$"):
        utils.check(
            "shape",
            [1, 2, 1, 1],
            (1, 2, 3, 3),
            mistakes=[((1, 2, 1, 1), "that is the shape without padding")],
        )


def test_check_compares_plain_values_and_never_calls_the_answers_own_eq():
    calls = []

    class Spy(int):
        def __eq__(self, other):
            calls.append(other)
            return True

        __hash__ = int.__hash__

    with pytest.raises(AssertionError, match="defines its own comparison"):
        utils.check("size", Spy(28), 28)
    assert calls == []  # never asked: the expected value never reached the answer's code


def test_check_refuses_an_expected_value_it_cannot_compare():
    with pytest.raises(TypeError, match="expected: check compares"):
        utils.check("output", object(), object())


def conv_helper(x):
    return F.conv2d(x, x)


def test_check_avoids_reads_the_code_of_the_function_and_of_its_helpers(capsys):
    def honest(x):
        return F.unfold(x, 3)

    def nested(x):
        return [F.conv2d(row, row) for row in x]

    def uses_a_helper(x):
        return conv_helper(x) + 1

    utils.check_avoids(honest, ["conv2d"])
    assert capsys.readouterr().out == "\N{CHECK MARK} honest does not use conv2d\n"
    with pytest.raises(AssertionError, match=r"^nested uses conv2d, which this exercise asks you not to use"):
        utils.check_avoids(nested, ["conv2d", "Conv2d"])
    with pytest.raises(AssertionError, match=r"^uses_a_helper uses conv2d"):
        utils.check_avoids(uses_a_helper, ["conv2d"])
    with pytest.raises(AssertionError, match=r"expected a function written with def, got None"):
        utils.check_avoids(None, ["conv2d"])


def test_first_warning_returns_the_result_and_the_warning_every_time():
    def warn() -> int:
        warnings.warn("careful (Triggered internally at somewhere)", UserWarning, stacklevel=1)
        return 7

    for _ in range(2):  # shown again, not only once per session
        assert utils.first_warning(warn) == (7, "careful")
    assert utils.first_warning(lambda: 3) == (3, "none")


def test_edge_filters_see_no_edge_on_a_flat_image_and_one_on_a_step():
    weights = utils.edge_filters(in_channels=3)
    assert weights.shape == (3, 3, 3, 3) and len(utils.EDGE_FILTER_NAMES) == 3
    flat = F.conv2d(torch.ones(1, 3, 5, 5), weights)
    assert flat.abs().max() < 1e-6
    step = torch.zeros(1, 3, 5, 6)
    step[..., 3:] = 1  # dark on the left, bright on the right: a vertical edge
    response = F.conv2d(step, weights)[0]
    assert response[0].abs().max() == pytest.approx(4) and response[1].abs().max() < 1e-6


def test_time_calls_gives_a_positive_median_per_function():
    table = utils.time_calls({"sum": lambda: sum(range(1000)), "none": lambda: None}, min_run_time=0.01)
    assert list(table.index) == ["sum", "none"] and list(table.columns) == ["median_ms", "iqr_ms"]
    assert (table["median_ms"] > 0).all() and table.loc["sum", "median_ms"] > table.loc["none", "median_ms"]


def test_animation_html_needs_nothing_from_the_internet():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2), dpi=20)
    ax = fig.subplots()
    html = utils.animation_html(fig, lambda n: ax.set_title(str(n)), n_frames=2)
    assert html.count("data:image/png;base64") == 2
    assert '<i class="fa' not in html and "font-awesome" not in html and "\u25b6" in html


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

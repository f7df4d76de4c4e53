"""What the notebooks show through utils: grids, figure descriptions (alt text), the offline
animation player, and warnings shown the same on every run."""

import re
import warnings

import numpy as np
import pytest

import utils


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


def test_first_warning_returns_the_result_and_the_warning_every_time():
    def warn() -> int:
        warnings.warn("careful (Triggered internally at somewhere)", UserWarning, stacklevel=1)
        return 7

    for _ in range(2):  # shown again, not only once per session
        assert utils.first_warning(warn) == (7, "careful")
    assert utils.first_warning(lambda: 3) == (3, "none")


def test_animation_html_needs_nothing_from_the_internet():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2), dpi=20)
    ax = fig.subplots()
    html = utils.animation_html(fig, lambda n: ax.set_title(str(n)), n_frames=2)
    assert html.count("data:image/png;base64") == 3  # two frames, and frame 0 as the picture's source
    assert re.search(r'<img id="_anim_img\w+" src="data:image/png;base64', html), "frame 0 before any script"
    assert '<i class="fa' not in html and "font-awesome" not in html and "\u25b6" in html


def test_a_figure_is_described_by_its_own_titles_and_labels():
    import matplotlib.pyplot as plt

    from utils import _describe_figure  # the alt text of every figure a notebook shows

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

"""Notebook 02, the output-size formula: it runs clean, its numbers (recomputed here with
nn.Conv2d), its exercises' checks (planted mistakes named, the answers never given)."""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import torch
from torch import nn

import notebook_checks as checks

NOTEBOOK = "02_output_size_formula"


# --- the notebook's numbers ---------------------------------------------------------------------


def conv2d_size(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int | str:
    """Output side of nn.Conv2d on an n x n input ("error" if PyTorch refuses it)."""
    layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
    try:
        with torch.no_grad():
            return layer(torch.zeros(1, 1, n, n)).shape[-1]
    except RuntimeError:
        return "error"


def windows(n: int, k: int, s: int, p: int, d: int) -> list[list[int]]:
    """The padded cells under the taps of every window position, by sliding it along."""
    span = d * (k - 1) + 1
    found, start = [], 0
    while start + span <= n + 2 * p:
        found.append([start + d * t for t in range(k)])
        start += s
    return found


def cells_after_the_last_window(n: int, k: int, s: int, p: int, d: int) -> int:
    return n + 2 * p - 1 - windows(n, k, s, p, d)[-1][-1]


def input_cells_never_read(n: int, k: int, s: int, p: int, d: int) -> list[int]:
    read = {cell for window in windows(n, k, s, p, d) for cell in window}
    return [cell for cell in range(n) if cell + p not in read]


def test_the_cifar_sized_layer_gives_28x28x4(notebook):
    assert notebook.value("by_hand") == 28
    assert "28 x 28 x 4" in checks.printed(notebook.nb, "layer_shape =")


def test_the_sweep_checked_many_configurations_including_both_edge_cases(notebook):
    checked = notebook.value("sweep_checked")
    assert checked >= 1000
    assert notebook.value("refused") > 0 and notebook.value("floored") > 0
    text = checks.printed(notebook.nb, "sweep_checked =")
    assert f"configurations checked: {checked}" in text
    assert "disagreements with nn.Conv2d: 0" in text


def test_the_cases_table_matches_nn_conv2d_and_the_windows(notebook):
    rows = notebook.value("cases_table.to_dict('index')")
    assert len(rows) >= 8
    for name, row in rows.items():
        n, k, s, p, d = (row[key] for key in ("n", "k", "s", "p", "d"))
        expected = conv2d_size(n, k, s, p, d)
        assert row["formula"] == row["nn.Conv2d"] == expected, name
        if expected != "error":
            assert len(windows(n, k, s, p, d)) == expected, name
            assert row["cells the floor drops"] == cells_after_the_last_window(n, k, s, p, d), name
            assert row["input cells never read"] == input_cells_never_read(n, k, s, p, d), name
    kinds = " ".join(rows)
    assert "same" in kinds and "dilation" in kinds and "does not fit" in kinds
    assert [6] in [row["input cells never read"] for row in rows.values()], "stride 2 on 7 cells skips cell 6"


def test_the_kernel_that_does_not_fit_prints_the_utils_error(notebook):
    fit_error = notebook.value("fit_error")
    assert "kernel_size" in fit_error and "more than the padded input" in fit_error
    assert fit_error in checks.printed(notebook.nb, "fit_error =")


def test_the_pitfalls_show_the_right_numbers(notebook):
    assert list(notebook.value("pitfall_padding").values()) == [
        32,
        conv2d_size(32, 3, 1, 1),
        conv2d_size(32, 3, 1, 2),
    ]
    assert conv2d_size(32, 3, 1, 2) == 34
    assert notebook.value("cs231n_value") == 4.5
    assert notebook.value("pytorch_value") == conv2d_size(10, 3, 2, 0) == 4
    assert notebook.value("same_is_end_heavy") is True and notebook.value("same_is_start_heavy") is False
    assert notebook.value("same_warning").startswith("Using padding='same' with even kernel lengths")


def test_same_padding_with_even_dilation_is_symmetric_and_silent(notebook):
    assert notebook.value("dilated_is_even") is True and notebook.value("dilated_warning") == "none"


def receptive_field_by_sliding(layers: list[list[int]]) -> int:
    """Input cells one output cell sees, found by following windows down the stack in 1-D."""
    cells = {0}  # the output cell, in the last layer
    for k, s, d in reversed(layers):
        cells = {s * cell + d * t for cell in cells for t in range(k)}
    return max(cells) - min(cells) + 1


def test_the_receptive_fields_match_windows_followed_down_the_stack(notebook):
    fields = notebook.value("fields['receptive field (input cells)'].to_dict()")
    assert list(fields)[:3] == ["one 3x3", "three 3x3", "one 7x7"]
    stacks = notebook.value("stacks")
    for name, field in fields.items():
        assert field == receptive_field_by_sliding(stacks[name]), name
    assert list(fields.values()) == [3, 7, 7, 11, 15, 27]


# --- the exercises: planted mistakes ------------------------------------------------------------

ALWAYS_EQUAL = """
class Padding(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


"""

# (grade_id of the check cell, a planted answer cell, a fragment of the message it must get)
PLANTED = [
    (
        "ex1-check",
        "def input_sizes(out, k, s=1, p=0, d=1):\n    span = d * (k - 1) + 1\n    return [s * (out - 1) + span - 2 * p]",
        "only one size",
    ),
    (
        "ex1-check",
        "def input_sizes(out, k, s=1, p=0, d=1):\n    span = d * (k - 1) + 1\n    smallest = s * (out - 1) + span - p\n    return [n for n in range(smallest, smallest + s) if n >= 1]",
        "padding counted once",
    ),
    (
        "ex1-check",
        "def input_sizes(out, k, s=1, p=0, d=1):\n    span = k\n    smallest = s * (out - 1) + span - 2 * p\n    return [n for n in range(smallest, smallest + s) if n >= 1]",
        "dilation ignored",
    ),
    (
        "ex1-check",
        "def input_sizes(out, k, s=1, p=0, d=1):\n    return [n for n in range(1, 200) if n + 2 * p >= d * (k - 1) + 1 and utils.conv_output_size(n, k, s, p, d) == out]",
        "utils.conv_output_size",
    ),
    (
        "ex2-check",
        "def receptive_field(layers):\n    cells, step = {0}, 1\n    for k, s, d in layers:\n        cells = {c + t * d * step for c in cells for t in range(k)}\n        step *= s\n    return len(cells)",
        "the task asks for the extent",
    ),
    (
        "ex2-check",
        "def receptive_field(layers):\n    return sum(d * (k - 1) for k, s, d in layers) + 1",
        "the strides are missing",
    ),
    (
        "ex2-check",
        "def receptive_field(layers):\n    field, step = 1, 1\n    for k, s, d in layers:\n        step *= s\n        field += d * (k - 1) * step\n    return field",
        "own stride counted",
    ),
    (
        "ex2-check",
        "def receptive_field(layers):\n    field, step = 1, 1\n    for k, s, d in layers:\n        field += d * (k - 1) * step\n        step *= s\n    return float(field)",
        "expected an int",
    ),
    (
        "ex3-check",
        "def padding_for(n_in, n_out, k, s):\n    return 2 * max(0, -(-((n_out - 1) * s + k - n_in) // 2))",
        "that is the total padding",
    ),
    (
        "ex3-check",
        "def padding_for(n_in, n_out, k, s):\n    return max(0, ((n_out - 1) * s + k - n_in) // 2)",
        "one cell short",
    ),
    (
        "ex3-check",
        "def padding_for(n_in, n_out, k, s):\n    return next(p for p in range(20) if utils.conv_output_size(n_in, k, s, p) == n_out)",
        "utils.conv_output_size",
    ),
]

SECRETS = {"ex1-check": [r"\[32\]", r"\[7, 8\]"], "ex3-check": [r"\b3\b(?!,| x)"]}


class TestAsEveryNotebook(checks.NotebookContract):
    """Runs clean, the solutions pass, PLANTED's mistakes are named without SECRETS (last: they
    run in the notebook's kernel)."""

"""Notebook 02, the output-size formula: its numbers, recomputed here with nn.Conv2d."""

import torch
from torch import nn

STEM = "02_output_size_formula"


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


def printed(nb, snippet: str) -> str:
    """The text printed by the code cell whose source contains ``snippet``."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and snippet in c.source)
    return "".join(out.get("text", "") for out in cell.outputs)


def test_the_posts_example_gives_28x28x4(executed):
    nb, values = executed(STEM)
    assert values["by_hand"] == 28
    assert values["post_shape"] == [1, 4, 28, 28]
    assert "28 x 28 x 4" in printed(nb, "post_shape =")


def test_the_sweep_checked_many_configurations_and_none_disagreed(executed):
    nb, values = executed(STEM)
    assert values["sweep_checked"] >= 1000
    assert values["sweep_disagreements"] == []
    assert values["refused"] > 0 and values["floored"] > 0, "the sweep covers both edge cases"
    text = printed(nb, "sweep_checked =")
    assert f"configurations checked: {values['sweep_checked']}" in text
    assert "disagreements with nn.Conv2d: 0" in text


def test_the_cases_table_matches_nn_conv2d_and_the_windows(executed):
    _, values = executed(STEM)
    table = values["cases_table"]
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert len(rows) >= 8
    for name, row in zip(table["index"], rows, strict=True):
        n, k, s, p, d = (row[key] for key in ("n", "k", "s", "p", "d"))
        expected = conv2d_size(n, k, s, p, d)
        assert row["formula"] == row["nn.Conv2d"] == expected, name
        if expected != "error":
            assert len(windows(n, k, s, p, d)) == expected, name
            assert row["cells the floor drops"] == cells_after_the_last_window(n, k, s, p, d), name
            assert row["input cells never read"] == input_cells_never_read(n, k, s, p, d), name
    kinds = " ".join(table["index"])
    assert "same" in kinds and "dilation" in kinds and "does not fit" in kinds
    assert [6] in [row["input cells never read"] for row in rows], "stride 2 on 7 cells skips cell 6"


def test_the_kernel_that_does_not_fit_prints_the_utils_error(executed):
    nb, values = executed(STEM)
    assert "kernel_size" in values["fit_error"] and "more than the padded input" in values["fit_error"]
    assert values["fit_error"] in printed(nb, "fit_error =")


def test_the_pitfalls_show_the_right_numbers(executed):
    _, values = executed(STEM)
    assert list(values["pitfall_padding"].values()) == [
        32,
        conv2d_size(32, 3, 1, 1),
        conv2d_size(32, 3, 1, 2),
    ]
    assert conv2d_size(32, 3, 1, 2) == 34
    assert values["cs231n_value"] == 4.5 and values["pytorch_value"] == conv2d_size(10, 3, 2, 0) == 4
    assert values["same_is_end_heavy"] is True and values["same_is_start_heavy"] is False
    assert values["same_warning"].startswith("Using padding='same' with even kernel lengths")


def test_the_exercise_answer_gives_resnets_stem_its_shape(executed):
    _, values = executed(STEM)
    assert values["stem_padding"] == 3
    assert conv2d_size(224, 7, 2, values["stem_padding"]) == 112


def test_same_padding_with_even_dilation_is_symmetric_and_silent(executed):
    _, values = executed(STEM)
    assert values["dilated_is_even"] is True and values["dilated_warning"] == "none"


def receptive_field_by_sliding(layers: list[list[int]]) -> int:
    """Input cells one output cell sees, found by following windows down the stack in 1-D."""
    cells = {0}  # the output cell, in the last layer
    for k, s, d in reversed(layers):
        cells = {s * cell + d * t for cell in cells for t in range(k)}
    return max(cells) - min(cells) + 1


def test_the_receptive_fields_match_windows_followed_down_the_stack(executed):
    _, values = executed(STEM)
    table = values["fields"]
    assert table["index"][:3] == ["one 3x3", "three 3x3", "one 7x7"]
    assert table["columns"] == ["receptive field (input cells)"]
    stacks = values["stacks"]
    for name, row in zip(table["index"], table["data"], strict=True):
        assert row[0] == receptive_field_by_sliding(stacks[name]), name
    assert [row[0] for row in table["data"]] == [3, 7, 7, 11, 15, 27]

"""The exercises assess: typical mistakes are named, the answer is never given away.

For each notebook one kernel runs the lesson, then every graded part of its exercises: first each
mistake planted below, as a student would write it in the answer cell, then the reference
solution. The part's whole check cell runs after each (its visible checks and its hidden tests,
as the grader runs them). A planted mistake must fail with an ``AssertionError`` that names the
mistake and does not contain the expected answer; the solution must pass.

The markup, the blank release scoring 0 and `nbgrader validate` are in test_assignment.py.
"""

# ruff: noqa: E501 (the planted answers are written as a student writes them, a line each)

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from notebooks import ROOT, execute, notebook_paths

PATHS = {path.stem: path for path in notebook_paths()}

# Runs each planted answer and then the check cell, in the notebook's own namespace.
TRIAL = '''
def run_trial(answer, check):
    """Run an answer cell, then a check cell: ["passed", ""] or [error type, message]."""
    try:
        exec(answer, globals())
        exec(check, globals())
    except Exception as error:
        return [type(error).__name__, str(error)]
    return ["passed", ""]


trials = []
'''

ALWAYS_EQUAL = """
class Padding(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


"""

# Exercise 06 (c), solved with loops: several planted mistakes below are one change to it.
LOOPS = (
    "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
    "    n_images, n_filters, h_out, w_out = dy.shape\n"
    "    _, channels, kh, kw = w.shape\n"
    "    height, width = input_size\n"
    "    dx_pad = np.zeros((n_images, channels, height + 2 * padding, width + 2 * padding))\n"
    "    for n in range(n_images):\n"
    "        for k in range(n_filters):\n"
    "            for i in range(h_out):\n"
    "                for j in range(w_out):\n"
    "                    top, left = i * stride, j * stride\n"
    "                    dx_pad[n, :, top : top + kh, left : left + kw] += dy[n, k, i, j] * w[k]\n"
    "    return dx_pad[:, :, padding : padding + height, padding : padding + width]"
)

# notebook -> [(grade_id of the check cell, planted answer cell, a fragment of the message)]
PLANTED = {
    "01_cs231n_worked_example": [
        ("ex1a-check", "ex1_shape = (1, 2, 2, 2)", "one position too few"),
        ("ex1a-check", "ex1_shape = (1, 2, 1, 1)", "shape without padding"),
        ("ex1a-check", "ex1_shape = (1, 3, 3, 2)", "PyTorch's order is (N, K, H_out, W_out)"),
        ("ex1a-check", "ex1_shape = (1, 2, 3.0, 3.0)", "expected an integer, got the float 3.0"),
        ("ex1a-check", "ex1_shape = None", "got None"),
        ("ex1b-check", "ex1_top, ex1_left = 3, 0", "row and column swapped"),
        ("ex1b-check", "ex1_top, ex1_left = 0, 1", "multiply by the stride"),
        ("ex1b-check", "ex1_top, ex1_left = -2, 1", "counted in the unpadded input"),
        ("ex1b-check", "ex1_top, ex1_left = 0, 2", "where stride 2"),
        (
            "ex1c-check",
            "ex1_value = int((np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))[0, :, 0:3, 3:6] * w[0]).sum())",
            "the bias b[0] is missing",
        ),
        (
            "ex1c-check",
            "ex1_value = int((np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))[0, :, 3:6, 0:3] * w[0]).sum() + b[0])",
            "row and column swapped",
        ),
        (
            "ex1c-check",
            "ex1_value = int((np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))[0, :, 0:3, 3:6] * w[1]).sum() + b[1])",
            "the second filter",
        ),
        (
            "ex1c-check",
            "ex1_value = int((np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))[0, :, 0:3, 3:6] * w[0]).sum() + b[0])",
            "the value with padding 1",
        ),
        (
            "ex1c-check",
            "ex1_value = float((np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))[0, :, 0:3, 3:6] * w[0]).sum() + b[0])",
            "expected an integer, got the float",
        ),
    ],
    "02_output_size_formula": [
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n    return [s * (out - 1) + d * (k - 1) + 1 - 2 * p]",
            "only one size",
        ),
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n"
            "    smallest = s * (out - 1) + d * (k - 1) + 1 - p\n"
            "    return [n for n in range(smallest, smallest + s) if n >= 1]",
            "padding counted once",
        ),
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n"
            "    smallest = s * (out - 1) + d * (k - 1) + 1 - 2 * p\n"
            "    return [n for n in range(smallest - s + 1, smallest + 1) if n >= 1]",
            "the floor rounds down",
        ),
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n"
            "    smallest = s * (out - 1) + k - 2 * p\n"
            "    return [n for n in range(smallest, smallest + s) if n >= 1]",
            "dilation ignored",
        ),
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n"
            "    return [n for n in range(1, 300) if utils.conv_output_size(n, k, s, p, d) == out]",
            "input_sizes uses conv_output_size, which this exercise asks you not to use",
        ),
        (
            "ex1-check",
            "def input_sizes(out, k, s=1, p=0, d=1):\n    sizes = [s * (out - 1) + d * (k - 1) + 1 - 2 * p]",
            "got None (no value: does a function end without `return`",
        ),
        (
            "ex2-check",
            "def receptive_field(layers):\n    return 1 + sum(d * (k - 1) for k, s, d in layers)",
            "the strides are missing",
        ),
        (
            "ex2-check",
            "def receptive_field(layers):\n"
            "    field, step = 1, 1\n"
            "    for k, s, d in layers:\n"
            "        step *= s\n"
            "        field += d * (k - 1) * step\n"
            "    return field",
            "a layer's own stride counted",
        ),
        (
            "ex2-check",
            "def receptive_field(layers):\n"
            "    field, step = 1, 1\n"
            "    for k, s, d in layers:\n"
            "        field += (k - 1) * step\n"
            "        step *= s\n"
            "    return field",
            "dilation ignored",
        ),
        ("ex3-check", "stem_padding = 6", "that is the total padding"),
        ("ex3-check", "stem_padding = 2", "one cell short"),
        ("ex3-check", "stem_padding = (7 - 1) / 2", "expected an integer, got the float 3.0"),
        ("ex3-check", "stem_padding = '3'", "got the string '3'"),
        (
            "ex3-check",
            ALWAYS_EQUAL + "stem_padding = Padding(0)",
            "class Padding, which defines its own comparison",
        ),
        # Replacing utils.check fools the visible checks, not the hidden test, which reloads utils.
        ("ex3-check", "utils.check = lambda *args, **kwargs: None\nstem_padding = 5", "not the right value"),
    ],
    "03_cifar10_loading": [
        (
            "ex1a-check",
            "channel_mean = torch.stack([image for image, _ in test_set]).mean(dim=(0, 2, 3))",
            "these are the normalised images",
        ),
        (
            "ex1a-check",
            "channel_mean = torch.from_numpy(test_set_raw.data.reshape(-1, 3).mean(axis=0))",
            "0-255 scale",
        ),
        (
            "ex1a-check",
            "channel_mean = torch.stack([image for image, _ in test_set_raw]).mean(dim=(0, 1, 2))",
            "expected an array of shape (3,), got shape (32,)",
        ),
        (
            "ex1b-check",
            "channel_std = torch.stack([image for image, _ in test_set_raw]).var(dim=(0, 2, 3))",
            "that is the variance",
        ),
        (
            "ex1b-check",
            "channel_std = torch.stack([image for image, _ in test_set_raw]).std(dim=(2, 3)).mean(dim=0)",
            "each image's own spread",
        ),
        (
            "ex1b-check",
            "channel_std = torch.stack([image for image, _ in test_set]).std(dim=(0, 2, 3))",
            "these are the normalised images",
        ),
        ("ex2a-check", "stored_value = int((images[5, 1, 0, 20].item() * 0.5 + 0.5) * 255)", "one below"),
        ("ex2a-check", "stored_value = round(images[5, 1, 0, 20].item() * 255)", "Normalize is not undone"),
        ("ex2a-check", "stored_value = int(test_set_raw.data[5, 0, 20, 0])", "that is the red channel"),
        (
            "ex2a-check",
            "stored_value = (images[5, 1, 0, 20].item() * 0.5 + 0.5) * 255",
            "expected an integer",
        ),
        ("ex2b-check", "gray_batch = images_raw.mean(dim=1, keepdim=True)", "all channels weigh the same"),
        (
            "ex2b-check",
            "gray_batch = (images_raw * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1)",
            "the channel axis is gone",
        ),
        (
            "ex2b-check",
            "gray_batch = (images_raw * torch.tensor([0.114, 0.587, 0.299]).view(1, 3, 1, 1)).sum(1, keepdim=True)",
            "reverse order",
        ),
        (
            "ex2b-check",
            "gray_batch = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)",
            "these are the normalised images",
        ),
    ],
    "04_im2col_vs_conv2d": [
        (
            "ex1a-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n"
            "    columns = F.unfold(x, w.shape[2:], stride=stride, padding=padding)\n"
            "    return (w.reshape(len(w), -1) @ columns).view(len(x), len(w), h_out, w_out)",
            "the biases are missing",
        ),
        (
            "ex1a-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    return F.conv2d(x, w, b, stride=stride, padding=padding)",
            "conv2d_im2col uses conv2d, which this exercise asks you not to use",
        ),
        (
            "ex1a-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    return utils.conv2d_im2col(x.numpy(), w.numpy(), b.numpy(), stride, padding)",
            "conv2d_im2col uses conv2d_im2col",
        ),
        (
            "ex1b-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n"
            "    columns = F.unfold(x, w.shape[2:], stride=stride, padding=padding)  # (N, C*kh*kw, L)\n"
            "    product = columns.transpose(1, 2) @ w.reshape(len(w), -1).T + b  # (N, L, K)\n"
            "    return product.reshape(len(x), len(w), h_out, w_out)",
            "reshaped as it is: move K before L first",
        ),
        (
            "ex1b-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n"
            "    columns = F.unfold(x[:1], w.shape[2:], stride=stride, padding=padding)\n"
            "    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(1, len(w), h_out, w_out)",
            "only the first image",
        ),
        (
            "ex1c-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride)\n"
            "    columns = F.unfold(x, w.shape[2:], stride=stride)\n"
            "    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(len(x), len(w), h_out, w_out)",
            "the padding is missing",
        ),
        (
            "ex1c-check",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), padding=padding)\n"
            "    columns = F.unfold(x, w.shape[2:], padding=padding)\n"
            "    return (w.reshape(len(w), -1) @ columns + b.view(1, -1, 1)).view(len(x), len(w), h_out, w_out)",
            "the stride is missing",
        ),
    ],
    "05_im2col_cost": [
        (
            "ex1-check",
            "def column_matrix_shape(n, c, h, w, k, stride=1, padding=0):\n"
            "    side = utils.conv_output_size(h, k, stride=stride, padding=padding)\n"
            "    return (n, c * k * k, side * side)",
            "the output height used for both axes",
        ),
        (
            "ex1-check",
            "def column_matrix_shape(n, c, h, w, k, stride=1, padding=0):\n"
            "    h_out, w_out = (h + padding - k) // stride + 1, (w + padding - k) // stride + 1\n"
            "    return (n, c * k * k, h_out * w_out)",
            "padding counted once",
        ),
        (
            "ex1-check",
            "def column_matrix_shape(n, c, h, w, k, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, stride=stride, padding=padding)\n"
            "    return (n, k * k, h_out * w_out)",
            "the channels are missing",
        ),
        (
            "ex1-check",
            "def column_matrix_shape(n, c, h, w, k, stride=1, padding=0):\n"
            "    h_out = -(-(h + 2 * padding - k) // stride) + 1  # rounded up\n"
            "    w_out = -(-(w + 2 * padding - k) // stride) + 1\n"
            "    return (n, c * k * k, h_out * w_out)",
            "one window too many along the width: the floor drops a last, partial step",
        ),
        (
            "ex1-check",
            "def column_matrix_shape(n, c, h, w, k, stride=1, padding=0):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, stride=stride, padding=padding)\n"
            "    return (n, h_out * w_out, c * k * k)",
            "rows and columns swapped",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, stride=stride, padding=padding)\n"
            "    return n * k_out * h_out * w_out * (c // groups) * k * k",
            "only the multiplies counted",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, stride=stride, padding=padding)\n"
            "    return 2 * n * k_out * h_out * w_out * c * k * k",
            "groups ignored",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, stride=stride, padding=padding)\n"
            "    return 2 * k_out * h_out * w_out * (c // groups) * k * k",
            "one image only",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    h_out, w_out = utils.conv_output_size((h, w), k, padding=padding)\n"
            "    return 2 * n * k_out * h_out * w_out * (c // groups) * k * k",
            "the stride is missing",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    return 2 * n * k_out * h * w * (c // groups) * k * k",
            "input pixels counted",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    from torch.utils.flop_counter import FlopCounterMode\n\n"
            "    x, w = torch.empty(n, c, h, w, device='meta'), torch.empty(k_out, c // groups, k, k, device='meta')\n"
            "    with FlopCounterMode(display=False) as counter:\n"
            "        F.conv2d(x, w, stride=stride, padding=padding, groups=groups)\n"
            "    return counter.get_total_flops()",
            "conv_flops uses FlopCounterMode, conv2d",
        ),
        (
            "ex2-check",
            "def conv_flops(n, c, h, w, k_out, k, stride=1, padding=0, groups=1):\n"
            "    columns = n * utils.conv_output_size(h, k, stride, padding) * utils.conv_output_size(w, k, stride, padding)\n"
            "    return 2 * k_out * columns * c // groups * k * k",
            "",
        ),
    ],
    "06_backward_with_col2im": [
        ("ex1a-check", "def bias_gradient(dy):\n    return dy.mean(axis=(0, 2, 3))", "that is a mean"),
        ("ex1a-check", "def bias_gradient(dy):\n    return dy.sum(axis=(2, 3))", "one gradient per image"),
        ("ex1a-check", "def bias_gradient(dy):\n    return dy.sum()", "one number"),
        ("ex1a-check", "def bias_gradient(dy):\n    db = dy.sum(axis=(0, 2, 3))", "got None"),
        (
            "ex1b-check",
            "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
            "    columns = utils.im2col(x, kernel_size, stride=stride, padding=padding)\n"
            "    dy_rows = dy.reshape(dy.shape[0], dy.shape[1], -1)\n"
            "    return (dy_rows @ columns.transpose(0, 2, 1)).reshape(len(x), dy.shape[1], x.shape[1], *kernel_size)",
            "one gradient per image",
        ),
        (
            "ex1b-check",
            "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
            "    columns = utils.im2col(x, kernel_size, stride=stride, padding=padding)\n"
            "    dy_rows = dy.reshape(dy.shape[0], dy.shape[1], -1)\n"
            "    dw_row = (dy_rows @ columns.transpose(0, 2, 1)).mean(axis=0)\n"
            "    return dw_row.reshape(dy.shape[1], x.shape[1], *kernel_size)",
            "an average over the images",
        ),
        (
            "ex1b-check",
            "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
            "    columns = utils.im2col(x[:1], kernel_size, stride=stride, padding=padding)\n"
            "    dw_row = dy[0].reshape(dy.shape[1], -1) @ columns[0].T\n"
            "    return dw_row.reshape(dy.shape[1], x.shape[1], *kernel_size)",
            "only the first image",
        ),
        (
            "ex1b-check",
            "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
            "    w = np.zeros((dy.shape[1], x.shape[1], *kernel_size))\n"
            "    return conv2d_backward(x, w, dy, stride, padding)[0]",
            "weight_gradient uses conv2d_backward, which this exercise asks you not to use",
        ),
        (
            "ex1c1-check",
            LOOPS,
            "",  # the solution, written out: the mistakes below are changes to it
        ),
        ("ex1c1-check", LOOPS.replace("] += dy", "] = dy"), "add (+=), do not assign"),
        (
            "ex1c1-check",
            LOOPS.replace(
                "dx_pad[:, :, padding : padding + height, padding : padding + width]",
                "dx_pad[:, :, padding:-padding, padding:-padding]",
            ),
            "x[p:-p] is empty when p = 0",
        ),
        (
            "ex1c1-check",
            "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
            "    columns = (w.reshape(len(w), -1).T @ dy.reshape(len(dy), len(w), -1))\n"
            "    return utils.col2im(columns, input_size, w.shape[2:], stride, padding)",
            "input_gradient_loops uses col2im",
        ),
        (
            "ex1c2-check",
            LOOPS.replace("dx_pad[:, :, padding : padding + height, padding : padding + width]", "dx_pad"),
            "the padding is still there",
        ),
        (
            "ex1c2-check",
            LOOPS.replace("top, left = i * stride, j * stride", "top, left = i, j"),
            "starts at padded row i * stride",
        ),
    ],
}

# Answers that no failure message of a part may show: the expected values of its visible cases.
SECRETS = {
    "ex1a-check": [r"\(1, 2, 3, 3\)"],  # 01
    "ex1b-check": [r"\(0, 3\)"],
    "ex1c-check": [r"(?<![\w.(\[-])4(?![\w.])"],
    "ex1-check": [r"\[7, 8\]", r"\[5, 6\]", r"\[32\]", r"\(2, 27, 20\)", r"\(1, 75, 784\)"],  # 02, 05
    "ex2-check": [r"\b15\b", r"\b12960\b"],  # 02, 05
    "ex3-check": [r"(?<![\w.(\[-])3(?![\w.])"],  # 02
    "ex2a-check": [r"\b55\b"],  # 03
}


def trial_notebook(path: Path, planted: list[tuple[str, str, str]]):
    """The lesson, then every part of the exercises: its planted mistakes, then its solution."""
    nb = nbformat.read(path, as_version=4)
    start = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source
    )
    cells = [new_code_cell(f"import sys\nsys.path.insert(0, {str(ROOT)!r})"), new_code_cell(TRIAL)]
    cells += [c for c in nb.cells[:start] if c.cell_type == "code"]
    answer = None
    for cell in nb.cells[start:]:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            answer = cell.source
        elif meta.get("grade"):
            grade_id = meta["grade_id"]
            for _, code, _ in [p for p in planted if p[0] == grade_id]:
                cells.append(
                    new_code_cell(
                        f"trials.append([{grade_id!r}, {code!r}, *run_trial({code!r}, {cell.source!r})])"
                    )
                )
            cells.append(
                new_code_cell(
                    f"trials.append([{grade_id!r}, 'solution', *run_trial({answer!r}, {cell.source!r})])"
                )
            )
        else:
            cells.append(new_code_cell(cell.source))  # a read-only cell the checks use
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    """stem -> [(grade_id, planted code or 'solution', outcome, message)], two notebooks at a time."""
    folder = tmp_path_factory.mktemp("trials")
    paths = {}
    for stem, path in PATHS.items():
        paths[stem] = folder / path.name
        nbformat.write(trial_notebook(path, PLANTED.get(stem, [])), paths[stem])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        runs = {stem: pool.submit(execute, path) for stem, path in paths.items()}
        return {stem: [tuple(t) for t in run.result()[1]["trials"]] for stem, run in runs.items()}


def test_every_exercise_has_at_least_three_planted_mistakes():
    for stem, path in PATHS.items():
        nb = nbformat.read(path, as_version=4)
        exercises = {
            c.metadata["nbgrader"]["grade_id"].split("-")[0][:3]
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        }
        for exercise in exercises:
            mistakes = [p for p in PLANTED[stem] if p[0].startswith(exercise) and p[2]]
            assert len(mistakes) >= 3, f"{stem} {exercise}: {len(mistakes)} planted mistakes"


@pytest.mark.parametrize("stem", list(PATHS))
def test_the_solutions_pass_every_check_visible_and_hidden(trials, stem):
    solutions = [t for t in trials[stem] if t[1] == "solution"]
    graded = [
        c
        for c in nbformat.read(PATHS[stem], as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert len(solutions) == len(graded)
    for grade_id, _, outcome, message in solutions:
        assert outcome == "passed", f"{grade_id}: {outcome}: {message}"


@pytest.mark.parametrize("stem", list(PATHS))
def test_each_planted_mistake_fails_with_its_message_and_without_the_answer(trials, stem):
    results = {(t[0], t[1]): t[2:] for t in trials[stem]}
    for grade_id, code, fragment in PLANTED[stem]:
        outcome, message = results[(grade_id, code)]
        if not fragment:  # a correct answer written another way
            assert outcome == "passed", f"{grade_id}: {message}"
            continue
        assert outcome == "AssertionError", f"{grade_id}, {code!r}: {outcome}: {message}"
        assert fragment in message, f"{grade_id}, {code!r}: {message}"
        # What may remain: shapes, counts, indices; the student's own value is echoed, not ours.
        shown = re.sub(r"tolerance of [^)]*\)|got the \w+ [^\s:]+|'[^']*'", "", message)
        assert not re.search(r"\d\.\d{3}", shown), f"{grade_id}: a value in {message!r}"
        for secret in SECRETS.get(grade_id, []):
            assert not re.search(secret, shown), f"{grade_id}: the answer in {message!r}"

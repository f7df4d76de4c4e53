"""Mutation testing of the exercises' checks: wrong answers must never score, right ones must.

    python -m tools.grading.mutants            # a table per part: variants, caught by visible, by hidden

From each reference solution (the answer cells of notebooks/) it derives wrong variants
automatically (each int constant off by one, ``+=`` made ``=``, an operand of a sum or product
dropped, ``+``/``-`` and ``*``/``/`` swapped, the result cast to float32, an input changed in
place) and adds the part's own: the forbidden operation reached several indirect ways, and right
answers written another way. Each variant runs in this process through the visible check
(``checks.check``) and the grader's scoring of the hidden cases (``checks.results`` as the kernel
publishes them, ``checks.score`` as the grader decides), so a run takes seconds, not an nbgrader
run per variant. tests/test_mutants.py fails if a wrong variant scores or a right one fails.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import checks
import utils
from tools.grading.scoring import GRADE_CALL
from tools.markup import is_grade, is_solution, without_solution_markers
from tools.series import NOTEBOOK_DIR, notebook_paths


@dataclass(frozen=True)
class Variant:
    """An answer cell's code; ``right`` says whether it must score."""

    label: str
    code: str
    right: bool


@dataclass(frozen=True)
class PartRun:
    """One check cell: its notebook, part, the function it calls, the hidden seed, the reference."""

    notebook: str
    part: str
    function: str
    seed: int
    solution: str


def part_runs(notebook_dir: Path = NOTEBOOK_DIR) -> list[PartRun]:
    """Every check cell of the series, with the answer cell it grades (the one above it)."""
    runs = []
    for path in notebook_paths(notebook_dir):
        answer = None
        for cell in nbformat.read(path, as_version=4).cells:
            if is_solution(cell):
                answer = without_solution_markers(cell.source)
            if is_grade(cell) and (call := GRADE_CALL.search(cell.source)):
                notebook, part, function, seed = call.groups()
                runs.append(PartRun(notebook, part, function, int(seed), answer))
    return runs


# --- Wrong variants, derived from the solution's code -------------------------------------------


class _Mutator(ast.NodeTransformer):
    """Applies the ``target``-th applicable change of one kind, counting nodes in walk order."""

    def __init__(self, kind: str, target: int):
        self.kind, self.target, self.seen = kind, target, 0

    def _hit(self) -> bool:
        self.seen += 1
        return self.seen - 1 == self.target

    def visit_UnaryOp(self, node):
        return node  # -1 in a reshape means "the rest": -2 would mean the same, not a mistake

    def visit_Constant(self, node):
        if self.kind in ("plus1", "minus1") and type(node.value) is int and self._hit():
            return ast.copy_location(ast.Constant(node.value + (1 if self.kind == "plus1" else -1)), node)
        return node

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if self.kind == "assign" and isinstance(node.op, ast.Add) and self._hit():
            return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        swaps = {
            ast.Add: ast.Sub,
            ast.Sub: ast.Add,
            ast.Mult: ast.Div,
            ast.Div: ast.Mult,
            ast.FloorDiv: ast.Div,
        }
        if self.kind == "swap" and type(node.op) in swaps and self._hit():
            return ast.copy_location(ast.BinOp(node.left, swaps[type(node.op)](), node.right), node)
        if (
            self.kind in ("left", "right")
            and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult))
            and self._hit()
        ):
            return node.left if self.kind == "left" else node.right
        return node


def _function(tree: ast.Module) -> ast.FunctionDef:
    return next(node for node in tree.body if isinstance(node, ast.FunctionDef))


def derived(solution: str) -> list[Variant]:
    """Wrong variants of a solution, one change each."""
    variants = []
    for kind in ("plus1", "minus1", "assign", "swap", "left", "right"):
        for target in range(40):
            tree = ast.parse(solution)
            mutator = _Mutator(kind, target)
            body = _function(tree)
            body.body = [mutator.visit(statement) for statement in body.body]
            if mutator.seen <= target:
                break
            code = ast.unparse(ast.fix_missing_locations(tree))
            variants.append(Variant(f"{kind} #{target + 1}", code, right=False))
    return variants


def wrapped(solution: str, part: checks.Part) -> list[Variant]:
    """The right answer, then its result cast to float32 (where the task asks for float64, or a
    float comes back: a rounding error shows), or its first mutable input changed in place."""
    name = _function(ast.parse(solution)).name
    head = f"{solution}\n\n_right_{name} = {name}\n\ndef {name}(*args):\n"
    found = []
    result = part.reference(*part.visible()[0].args)
    if part.rule.dtype or isinstance(result, float):
        found.append(
            Variant("float32 result", head + f"    return _as_float32(_right_{name}(*args))\n", False)
        )
    if any(isinstance(arg, (np.ndarray, torch.Tensor, list)) for arg in part.visible()[0].args):
        found.append(
            Variant(
                "changes an input in place",
                head + f"    result = _right_{name}(*args)\n    _touch(args)\n    return result\n",
                False,
            )
        )
    return found


def _as_float32(value):
    if isinstance(value, torch.Tensor):
        return value.float()
    if isinstance(value, np.ndarray):
        return value.astype(np.float32)
    if isinstance(value, float):
        return float(np.float32(value) + np.float32(1e-3) * value)  # a float32 rounding, made visible
    return value


def _touch(args: tuple) -> None:
    """Change the first argument that can change: an array, tensor or list."""
    for arg in args:
        if isinstance(arg, torch.Tensor):
            arg.add_(1.0)
            return
        if isinstance(arg, np.ndarray) and arg.size:
            arg.flat[0] += 1
            return
        if isinstance(arg, list):
            arg.append(arg[-1] if arg else 0)
            return


# --- The parts' own variants: forbidden routes and right answers in other words ------------------

CONV_ROUTES = {
    "getattr with a built name": "getattr(F, 'con' + 'v2d')({x}, {w}, {b}, stride={s}, padding={p})",
    "torch.ops.aten": "torch.ops.aten.convolution({x}, {w}, {b}, [{s}, {s}], [{p}, {p}], [1, 1], False, [0, 0], 1)",
    "the private torch._C entry": "torch._C._VariableFunctions.conv2d({x}, {w}, {b}, {s}, {p})",
    "a module namespace": "vars(torch.nn.functional)['conv2d']({x}, {w}, {b}, stride={s}, padding={p})",
    "nn.Conv2d": "_module({x}, {w}, {b}, {s}, {p})",
    "utils.conv2d_naive": "torch.from_numpy(__import__('utils').conv2d_naive({x}.numpy(), {w}.numpy(), {b}.numpy(), {s}, {p}))",
    "checks' own reference": "torch.from_numpy(__import__('checks')._conv({x}, {w}, {b}, {s}, {p}))",
}


def _module(x, w, b, s, p):
    layer = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=s, padding=p, dtype=w.dtype)
    with torch.no_grad():
        layer.weight.copy_(w), layer.bias.copy_(b)
        return layer(x)


def _conv_variants() -> list[Variant]:
    head = "def conv2d_im2col(x, w, b, stride=1, padding=0):\n    return "
    args = {"x": "x", "w": "w", "b": "b", "s": "stride", "p": "padding"}
    wrong = [
        Variant(f"forbidden: {label}", head + route.format(**args), False)
        for label, route in CONV_ROUTES.items()
    ]
    right = [
        Variant(
            "numpy im2col, then a tensor",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    cols = utils.im2col(x.numpy(), tuple(w.shape[2:]), stride, padding)\n"
            "    h, w_out = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n"
            "    out = w.numpy().reshape(len(w), -1) @ cols + b.numpy()[:, None]\n"
            "    return torch.from_numpy(out.reshape(len(x), len(w), h, w_out))",
            True,
        ),
        Variant(
            "an einsum over the columns",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    cols = F.unfold(x, tuple(w.shape[2:]), stride=stride, padding=padding)\n"
            "    h = (x.shape[2] + 2 * padding - w.shape[2]) // stride + 1\n"
            "    v = (x.shape[3] + 2 * padding - w.shape[3]) // stride + 1\n"
            "    out = torch.einsum('kr,nrl->nkl', w.reshape(len(w), -1), cols) + b[:, None]\n"
            "    return out.reshape(len(x), len(w), h, v)",
            True,
        ),
        Variant(
            "a NumPy array returned",
            "def conv2d_im2col(x, w, b, stride=1, padding=0):\n"
            "    cols = F.unfold(x, tuple(w.shape[2:]), stride=stride, padding=padding)\n"
            "    h, v = utils.conv_output_size(tuple(x.shape[2:]), tuple(w.shape[2:]), stride, padding)\n"
            "    return (w.reshape(len(w), -1) @ cols + b.view(1, -1, 1)).reshape(len(x), len(w), h, v).numpy()",
            True,
        ),
    ]
    return wrong + right


GRAD_ROUTES = {
    "autograd.grad": "torch.autograd.grad(F.conv2d(x_t, w_t, stride=stride, padding=padding), {wrt}, dy_t)[0].numpy()",
    "backward()": "_backward(x_t, w_t, dy_t, stride, padding, {wrt_name})",
    "torch.func.vjp": "torch.func.vjp(lambda a, c: F.conv2d(a, c, stride=stride, padding=padding), x_t, w_t)[1](dy_t)[{index}].numpy()",
    "the aten gradient": "torch.ops.aten.convolution_backward(dy_t, x_t, w_t, None, [stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1, [True, True, False])[{index}].numpy()",
}


def _backward(x_t, w_t, dy_t, stride, padding, wrt_name):
    x_t, w_t = x_t.clone().requires_grad_(), w_t.clone().requires_grad_()
    F.conv2d(x_t, w_t, stride=stride, padding=padding).backward(dy_t)
    return (x_t if wrt_name == "x" else w_t).grad.numpy()


def _grad_variants(function: str) -> list[Variant]:
    if function == "weight_gradient":
        head = (
            "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
            "    x_t, dy_t = torch.from_numpy(x), torch.from_numpy(dy)\n"
            "    w_t = torch.zeros(dy.shape[1], x.shape[1], *kernel_size, dtype=torch.float64, requires_grad=True)\n"
        )
        fill = {"wrt": "w_t", "wrt_name": "'w'", "index": 1}
    elif function == "input_gradient_loops":
        head = (
            "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
            "    dy_t, w_t = torch.from_numpy(dy), torch.from_numpy(w)\n"
            "    x_t = torch.zeros(dy.shape[0], w.shape[1], *input_size, dtype=torch.float64, requires_grad=True)\n"
        )
        fill = {"wrt": "x_t", "wrt_name": "'x'", "index": 0}
    else:
        return []
    wrong = [
        Variant(f"forbidden: {label}", head + "    return " + route.format(**fill), False)
        for label, route in GRAD_ROUTES.items()
    ]
    if function == "input_gradient_loops":
        wrong.append(
            Variant(
                "forbidden: col2im of the lesson",
                "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
                "    cols = w.reshape(len(w), -1).T @ dy.reshape(len(dy), len(w), -1)\n"
                "    return utils.col2im(cols, input_size, w.shape[2:], stride=stride, padding=padding)",
                False,
            )
        )
        wrong.append(
            Variant(
                "forbidden: a transposed convolution",
                "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
                "    out = F.conv_transpose2d(torch.from_numpy(dy), torch.from_numpy(w), stride=stride, padding=padding)\n"
                "    full = torch.zeros(dy.shape[0], w.shape[1], *input_size, dtype=torch.float64)\n"
                "    full[:, :, : out.shape[2], : out.shape[3]] = out[:, :, : input_size[0], : input_size[1]]\n"
                "    return full.numpy()",
                False,
            )
        )
    return wrong


RIGHT = {
    ("01", "ex1a"): [
        "def output_shape(x_shape, w_shape, stride, padding):\n"
        "    return tuple(int(v) for v in (x_shape[0], w_shape[0], np.floor((x_shape[2] + 2 * padding - w_shape[2]) / stride) + 1,"
        " np.floor((x_shape[3] + 2 * padding - w_shape[3]) / stride) + 1))"
    ],
    ("01", "ex1c"): [
        "def output_value(x, w, b, k, i, j, stride, padding):\n"
        "    x_pad = torch.nn.functional.pad(torch.from_numpy(x), (padding,) * 4)\n"
        "    total = b[k]\n"
        "    for c, p, q in np.ndindex(w.shape[1:]):\n"
        "        total += x_pad[c, i * stride + p, j * stride + q].item() * w[k, c, p, q]\n"
        "    return total"
    ],
    ("02", "ex1"): [
        "def input_sizes(out, k, s=1, p=0, d=1):\n"
        "    span = d * (k - 1) + 1\n"
        "    return [n for n in range(1, s * out + span + 1) if n + 2 * p >= span and (n + 2 * p - span) // s + 1 == out]"
    ],
    ("02", "ex2"): [
        "def receptive_field(layers):\n"
        "    if not layers:\n        return 1\n"
        "    *below, (k, s, d) = layers\n"
        "    jump = int(np.prod([layer[1] for layer in below]))\n"
        "    return np.int64(receptive_field(below) + d * (k - 1) * jump)"
    ],
    ("02", "ex3"): [
        "def padding_for(n_in, n_out, k, s):\n"
        "    p = 0\n    while (n_in + 2 * p - k) // s + 1 != n_out:\n        p += 1\n    return p"
    ],
    ("03", "ex1a"): [
        "def channel_mean(images):\n    return images.numpy().mean(axis=(0, 2, 3))",
        "def channel_mean(images):\n    return images.transpose(0, 1).reshape(3, -1).double().mean(dim=1)",
    ],
    ("03", "ex1b"): [
        "def channel_std(images):\n    return images.numpy().std(axis=(0, 2, 3))",
        "def channel_std(images):\n    flat = images.transpose(0, 1).reshape(3, -1)\n"
        "    return ((flat - flat.mean(dim=1, keepdim=True)) ** 2).mean(dim=1).sqrt()",
    ],
    ("03", "ex2a"): [
        "def stored_byte(value, mean, std):\n    return int(np.rint((value * std + mean) * 255))"
    ],
    ("03", "ex2b"): [
        "def to_gray(images):\n    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]\n"
        "    return 0.299 * r + 0.587 * g + 0.114 * b",
        "def to_gray(images):\n    return np.einsum('nchw,c->nhw', images.numpy(), np.array([0.299, 0.587, 0.114]))[:, None]",
    ],
    ("05", "ex1a"): [
        "def bound_by(flops, bytes_moved, peak_gflops, bandwidth_gbs):\n"
        "    return 'compute' if flops / bytes_moved * bandwidth_gbs >= peak_gflops else 'memory'"
    ],
    ("05", "ex1b"): [
        "def roofline_fraction(measured_gflops, flops, bytes_moved, peak_gflops, bandwidth_gbs):\n"
        "    return float(np.float64(measured_gflops) / np.minimum(peak_gflops, flops * bandwidth_gbs / bytes_moved))"
    ],
    ("05", "ex2"): [
        "def winograd_f23(d, g):\n    d0, d1, d2, d3 = d\n    g0, g1, g2 = g\n"
        "    gg = [g0, (g0 + g1 + g2) * 0.5, (g0 - g1 + g2) * 0.5, g2]\n"
        "    dd = [d0 - d2, d1 + d2, d2 - d1, d1 - d3]\n"
        "    m = [a * b for a, b in zip(dd, gg)]\n    return (m[0] + m[1] + m[2], m[1] - m[2] - m[3])"
    ],
    ("06", "ex1a"): [
        "def bias_gradient(dy):\n    return np.einsum('nkij->k', dy)",
        "def bias_gradient(dy):\n    return torch.from_numpy(dy).sum(dim=(0, 2, 3))",
    ],
    ("06", "ex1b"): [
        "def weight_gradient(x, dy, kernel_size, stride=1, padding=0):\n"
        "    kh, kw = kernel_size\n    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))\n"
        "    dw = np.zeros((dy.shape[1], x.shape[1], kh, kw))\n"
        "    for p in range(kh):\n        for q in range(kw):\n"
        "            window = x_pad[:, :, p : p + stride * (dy.shape[2] - 1) + 1 : stride, q : q + stride * (dy.shape[3] - 1) + 1 : stride]\n"
        "            dw[:, :, p, q] = np.einsum('nkij,ncij->kc', dy, window)\n    return dw"
    ],
    ("06", "ex1c"): [
        "def input_gradient_loops(dy, w, input_size, stride=1, padding=0):\n"
        "    n_images, _, h_out, w_out = dy.shape\n    kh, kw = w.shape[2:]\n"
        "    dx = np.zeros((n_images, w.shape[1], input_size[0] + 2 * padding, input_size[1] + 2 * padding))\n"
        "    for i in range(h_out):\n        for j in range(w_out):\n"
        "            dx[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += np.einsum('nk,kcpq->ncpq', dy[:, :, i, j], w)\n"
        "    return dx[:, :, padding : padding + input_size[0], padding : padding + input_size[1]]"
    ],
}

# Derived changes that are not mistakes, found by this tool and read by a person: (function, a
# fragment of the changed code) -> why it is still right.
EQUIVALENT = {
    (
        "input_gradient_loops",
        "height + 3 * padding",
    ): "a padded array taller than needed: its extra zeros are cut off",
    (
        "input_gradient_loops",
        "width + 3 * padding",
    ): "a padded array wider than needed: its extra zeros are cut off",
}

GENERIC_WRONG = {
    "switches the guard off": "import sys as _s\n{solution}\n_inner = {name}\n\ndef {name}(*args):\n    _s.setprofile(None)\n    return _inner(*args)",
}


def variants(run: PartRun) -> list[Variant]:
    """All variants of one part: the solution itself (right), derived wrong ones, the part's own."""
    name = run.function
    found = [Variant("the reference solution", run.solution, True)]
    found += [
        variant
        for variant in derived(run.solution) + wrapped(run.solution, checks.PARTS[(run.notebook, run.part)])
        if not any(name == function and fragment in variant.code for function, fragment in EQUIVALENT)
    ]
    found += [
        Variant(f"right: other way #{i + 1}", code, True)
        for i, code in enumerate(
            RIGHT.get((run.notebook, run.part), RIGHT.get((run.notebook, run.part[:4]), []))
        )
    ]
    if name == "conv2d_im2col":
        found += _conv_variants()
    found += _grad_variants(name)
    found += [
        Variant(label, code.format(solution=run.solution, name=name), False)
        for label, code in GENERIC_WRONG.items()
    ]
    if name == "output_value":
        found.append(
            Variant(
                "forbidden: F.conv2d on one window",
                "def output_value(x, w, b, k, i, j, stride, padding):\n"
                "    out = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding)\n"
                "    return out[0, k, i, j].item()",
                False,
            )
        )
        found.append(
            Variant(
                "forbidden: np.correlate over rows",
                "def output_value(x, w, b, k, i, j, stride, padding):\n"
                "    x_pad = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))\n"
                "    kh, kw = w.shape[2:]\n    total = b[k]\n"
                "    for c in range(x.shape[0]):\n        for p in range(kh):\n"
                "            total += np.correlate(x_pad[c, i * stride + p], w[k, c, p])[j * stride]\n"
                "    return total",
                False,
            )
        )
    if name == "to_gray":
        found.append(
            Variant(
                "forbidden: a 1x1 convolution",
                "def to_gray(images):\n"
                "    return F.conv2d(images, torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))",
                False,
            )
        )
    if name == "winograd_f23":
        found.append(
            Variant(
                "the direct method",
                "def winograd_f23(d, g):\n"
                "    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]",
                False,
            )
        )
        found.append(
            Variant(
                "forbidden: np.correlate",
                "def winograd_f23(d, g):\n    return list(np.correlate(d, g))",
                False,
            )
        )
    if name == "receptive_field":
        found.append(
            Variant(
                "counts the cells instead of the extent",
                "def receptive_field(layers):\n"
                "    cells, step = {0}, 1\n    for k, s, d in layers:\n"
                "        cells = {c + t * d * step for c in cells for t in range(k)}\n        step *= s\n"
                "    return len(cells)",
                False,
            )
        )
        found.append(
            Variant(
                "forbidden: measured with autograd",
                "def receptive_field(layers):\n"
                "    signal = torch.ones(1, 1, 400, requires_grad=True)\n    out = signal\n"
                "    for k, s, d in layers:\n        out = F.conv1d(out, torch.ones(1, 1, k), stride=s, dilation=d)\n"
                "    out[0, 0, out.shape[-1] // 2].backward()\n    used = torch.nonzero(signal.grad[0, 0]).flatten()\n"
                "    return int(used[-1] - used[0] + 1)",
                False,
            )
        )
    if name in ("input_sizes", "padding_for", "output_shape"):
        found.append(Variant("forbidden: utils.conv_output_size", _size_helper(name), False))
    return found


def _size_helper(name: str) -> str:
    if name == "input_sizes":
        return (
            "def input_sizes(out, k, s=1, p=0, d=1):\n    found = []\n    for n in range(1, s * out + d * k + 1):\n"
            "        try:\n            if __import__('utils').conv_output_size(n, k, s, p, d) == out:\n                found.append(n)\n"
            "        except ValueError:\n            pass\n    return found"
        )
    if name == "padding_for":
        return (
            "def padding_for(n_in, n_out, k, s):\n"
            "    return next(p for p in range(99) if getattr(utils, 'conv_output_size')(n_in, k, s, p) == n_out)"
        )
    return (
        "def output_shape(x_shape, w_shape, stride, padding):\n"
        "    h, w = utils.conv_output_size(tuple(x_shape[2:]), tuple(w_shape[2:]), stride, padding)\n"
        "    return (x_shape[0], w_shape[0], h, w)"
    )


# --- Running ---------------------------------------------------------------------------------------


def _namespace() -> dict:
    return {
        "__name__": "__main__",
        "np": np,
        "torch": torch,
        "F": F,
        "nn": nn,
        "utils": utils,
        "_as_float32": _as_float32,
        "_touch": _touch,
        "_module": _module,
        "_backward": _backward,
    }


def outcome(run: PartRun, variant: Variant) -> tuple[str | None, str | None]:
    """(visible verdict, hidden verdict) of one variant: None where it scores."""
    namespace = _namespace()
    importlib.reload(checks)  # whatever the last variant did to the checker
    try:
        exec(compile(variant.code, f"<{variant.label}>", "exec"), namespace)
        function = namespace[run.function]
    except Exception as error:  # a variant that does not even define its function
        return f"does not run: {error}", f"does not run: {error}"
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checks.check(run.notebook, run.part, function)
        visible = None
    except checks.CheckFailed as failed:
        visible = str(failed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        payload = json.dumps(checks.results(run.notebook, run.part, function, run.seed))
    importlib.reload(checks)  # the grader's checker is never the one the answer ran with
    hidden = checks.score(run.notebook, run.part, run.seed, payload)
    return visible, hidden


@dataclass
class Row:
    notebook: str
    part: str
    wrong: int = 0
    caught_visible: int = 0
    caught_hidden: int = 0
    right: int = 0
    right_passed: int = 0


def run_all(runs: list[PartRun] | None = None) -> tuple[list[Row], list[str]]:
    """Every variant of every function, through each check cell that grades it: a Row per part,
    and the problems: a wrong variant that scores every part of its function (a function graded
    by several cells may score the parts whose cases its mistake does not touch), or a right
    variant that fails any."""
    runs = runs or part_runs()
    rows, problems = {(r.notebook, r.part): Row(r.notebook, r.part) for r in runs}, []
    groups: dict[tuple[str, str], list[PartRun]] = {}
    for run in runs:
        groups.setdefault((run.notebook, run.function), []).append(run)
    for (notebook, function), group in groups.items():
        for variant in variants(group[0]):
            verdicts = {run.part: outcome(run, variant) for run in group}
            if not variant.right and all(str(v).startswith("does not run") for v, _ in verdicts.values()):
                continue  # a derived change that breaks the code itself tests nothing
            for part, (visible, hidden) in verdicts.items():
                row = rows[(notebook, part)]
                if variant.right:
                    row.right += 1
                    row.right_passed += visible is None and hidden is None
                    if visible is not None or hidden is not None:
                        problems.append(
                            f"{notebook} {part}: right variant '{variant.label}' fails: {visible or hidden}"
                        )
                else:
                    row.wrong += 1
                    row.caught_visible += visible is not None
                    row.caught_hidden += hidden is not None
            if not variant.right and all(hidden is None for _, hidden in verdicts.values()):
                problems.append(
                    f"{notebook} {function}: wrong variant '{variant.label}' scores:\n{variant.code}"
                )
    return list(rows.values()), problems


def table(rows: list[Row]) -> str:
    lines = [
        "| notebook | part | wrong variants | caught by visible | caught by hidden | right variants | right passed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.notebook} | {r.part} | {r.wrong} | {r.caught_visible} | {r.caught_hidden} | {r.right} | {r.right_passed} |"
        )
    return "\n".join(lines)


def main() -> None:
    rows, problems = run_all()
    print(table(rows))
    print("\n".join(problems) or "no wrong variant scores, no right variant fails")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

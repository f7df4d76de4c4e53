"""The checks of the series' exercises: each graded part asks for a function, and a check calls it.

    checks.check("04", "ex1a", conv2d_im2col)   # a visible check: a tick, or one sentence

A check builds its own inputs (seeded), calls the answer on copies under a guard that records
what it runs (every PyTorch operator at the dispatcher, and the Python and C functions it calls),
then compares with a reference computed here, after the call. A failure is a ``CheckFailed``
that IPython shows as its sentence alone: what is wrong and where to look, never the expected
value. At grading, ``grade`` runs the answer on the hidden cases and publishes only its results,
as plain data; the grader's own process recomputes the references and scores them with
``score`` (a step of the course's grading), so nothing in the student's kernel decides a grade.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

MIME = "application/vnd.conv-im2col.results+json"  # what ``grade`` publishes, and nothing else


class CheckFailed(AssertionError):
    """A check's verdict: IPython shows the sentence alone, no traceback of the checker."""

    def _render_traceback_(self) -> list[str]:
        return [f"\N{CROSS MARK} {self}"]


# --- The guard: what an answer runs ----------------------------------------------------------

DIRECT = "called directly: "  # the prefix of a name the answer's own code called
# A name of the student's own notebook never matches a capability:
NOT_STUDENT = r"^(?!(?:called directly: )?__main__\.)"
# capability -> (words for the sentence, a pattern of the recorded names that use it)
CAPABILITIES = {
    "convolution": (
        "a convolution routine",
        NOT_STUDENT
        + r".*(conv(?!ert|_output_size)|correlat|fft|cudnn|mkldnn|winograd|scipy\.(signal|ndimage))",
    ),
    "unfold": (
        "an unfold (im2col) routine",
        NOT_STUDENT + r".*(im2col|unfold|sliding_window_view|as_strided)",
    ),
    "fold": ("a fold (col2im) routine", NOT_STUDENT + r".*(col2im|(^|[._])fold)"),
    "autograd": (
        "autograd",
        NOT_STUDENT + r".*(backward|torch\.autograd\.(grad|backward)$|torch\.autograd\.functional|"
        r"_functorch|torch\.func\.|forward_ad)|^__main__\.conv2d_backward$",
    ),
    "output_size": (
        "the output-size helper utils.conv_output_size",
        r"^utils\.(conv_output_size|_geometry)$",
    ),
    "checker": ("the checker's own code", r"^checks\."),
    "tampering": (
        "something that switches the guard off",
        r"^called directly: "
        r".*(_pop_mode|_pop_torch|Disable\w*Torch|_disable_current_modes|setprofile|settrace|_getframe"
        r"|threading\.Thread\.start|_thread\.start|gc\.get_referrers|gc\.get_objects|sys\._current_frames)",
    ),
}
ALWAYS = ("checker", "tampering")  # forbidden in every part


class _Functions(TorchFunctionMode):
    """Records the name of every torch function called while active."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(f"torch.{getattr(func, '__name__', repr(func))}")
        return func(*args, **(kwargs or {}))


class _Operators(TorchDispatchMode):
    """Records every aten operator that runs while active, however it was reached."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names = names

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False  # nothing is compiled here; True would import Dynamo (seconds) on first use

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(f"torch.ops.{func}")
        return func(*args, **(kwargs or {}))


_GUARD_CODES: set = set()  # the guard's own code: calls from it are not the answer's
_OURS = globals()
# Code of this module that an answer runs on purpose (numbers that count, the recording modes).
_OWN_METHODS = ("Counted.", "_Functions.", "_Operators.", "CheckFailed.")


def _name(module: object, qualname: object) -> str:
    return f"{module or ''}.{qualname}"


def _profiler(names: set[str]) -> Callable:
    """A sys.setprofile function that records each function called, as 'module.qualname'."""

    def profile(frame, event, arg):
        code = frame.f_code
        if code in _GUARD_CODES or (frame.f_globals is _OURS and code.co_qualname.startswith(_OWN_METHODS)):
            return
        if event == "call":
            name, caller = _name(frame.f_globals.get("__name__"), code.co_qualname), frame.f_back
        elif event == "c_call":
            module = getattr(arg, "__module__", None) or getattr(
                getattr(arg, "__self__", None), "__name__", ""
            )
            name, caller = _name(module, getattr(arg, "__qualname__", getattr(arg, "__name__", "?"))), frame
        else:
            return
        names.add(name)
        if caller is not None and caller.f_globals.get("__name__") == "__main__":
            names.add(f"{DIRECT}{name}")  # called by the answer itself, not by a library it called

    return profile


def _guarded_call(function: Callable, args: tuple) -> tuple[object, set[str], str | None]:
    """Call ``function(*args)`` under the guard: (result, names it ran, error sentence or None)."""
    names: set[str] = set()
    profile, result, error = _profiler(names), None, None
    start = threading.Thread.start
    try:
        with _Functions(names), _Operators(names):
            sys.setprofile(profile)
            try:
                result = function(*args)
            except CheckFailed as failed:
                error = str(failed)
            except Exception as failed:  # the answer's own error: a sentence for its part
                said = str(failed)[:200]
                error = f"it raised {type(failed).__name__}" + (
                    f": {said}" if said else " (is it written yet?)"
                )
            finally:
                if sys.getprofile() is not profile:
                    names.add(f"{DIRECT}sys.setprofile (the guard was switched off)")
                sys.setprofile(None)
    except Exception as failed:  # a mode popped or replaced by the answer
        names.add(f"{DIRECT}torch._pop_mode (the mode stack was changed: {type(failed).__name__})")
    if threading.Thread.start is not start:
        names.add(f"{DIRECT}threading.Thread.start (replaced)")
    return result, names, error


_GUARD_CODES.update(
    {_guarded_call.__code__, _Functions.__torch_function__.__code__, _Operators.__torch_dispatch__.__code__}
)
_GUARD_CODES.update(c for c in (TorchFunctionMode.__enter__.__code__, TorchFunctionMode.__exit__.__code__))
_GUARD_CODES.update(c for c in (TorchDispatchMode.__enter__.__code__, TorchDispatchMode.__exit__.__code__))


def forbidden_calls(names: list[str] | set[str], capabilities: tuple[str, ...]) -> list[tuple[str, str]]:
    """(capability's words, a name that used it) for each forbidden capability that was used."""
    found = []
    for capability in (*capabilities, *ALWAYS):
        words, pattern = CAPABILITIES[capability]
        used = sorted({name.removeprefix(DIRECT) for name in names if re.search(pattern, name)})
        if used:
            found.append((words, used[0]))
    return found


# --- Plain data: what crosses from the kernel to the grader ------------------------------------


def encode(value: object, depth: int = 0) -> dict:
    """An answer's result as plain JSON data; only plain types are accepted (never an object of
    the answer's own class, which could decide how it converts or compares)."""
    kind = type(value)
    if value is None:
        return {"kind": "none"}
    if kind is bool or kind is np.bool_:
        return {"kind": "bool", "value": bool(value)}
    if kind is int or isinstance(value, np.integer) and kind.__module__ == "numpy":
        return {"kind": "int", "value": int(value)}
    if kind is float or isinstance(value, np.floating) and kind.__module__ == "numpy":
        return {"kind": "float", "value": repr(float(value)), "dtype": str(np.dtype(kind))}
    if kind is str:
        return {"kind": "str", "value": value[:200]}
    if kind in (list, tuple, torch.Size) and depth < 3 and len(value) <= 64:
        return {"kind": "list", "items": [encode(item, depth + 1) for item in value]}
    if kind is torch.Tensor:
        value = value.detach().cpu().resolve_conj().resolve_neg()
        if value.dtype.is_complex or value.dtype == torch.bfloat16:
            return {"kind": "other", "type": f"a tensor of dtype {value.dtype}"}
        value, kind = value.numpy(), np.ndarray
    if kind is np.ndarray and value.dtype.kind in "biuf" and value.size <= 10**6:
        data = base64.b64encode(np.ascontiguousarray(value, dtype=np.float64).tobytes()).decode()
        return {"kind": "array", "shape": list(value.shape), "dtype": str(value.dtype), "data": data}
    return {"kind": "other", "type": f"an object of type {kind.__name__}"}


def decode(plain: dict) -> object:
    """The value ``encode`` wrote: None, bool, int, float, str, list, an ndarray of float64 with its
    original dtype's name in ``.dtype_name`` (kept beside it), or a description string."""
    kind = plain.get("kind")
    if kind == "none":
        return None
    if kind in ("bool", "int", "str"):
        return {"bool": bool, "int": int, "str": str}[kind](plain["value"])
    if kind == "float":
        return Float(float(plain["value"]), plain.get("dtype", "float64"))
    if kind == "list":
        return [decode(item) for item in plain["items"]]
    if kind == "array":
        shape = tuple(int(n) for n in plain["shape"])
        array = np.frombuffer(base64.b64decode(plain["data"]), dtype=np.float64).reshape(shape)
        return Array(array, str(plain["dtype"]))
    return Other(str(plain.get("type", "an object")))


@dataclass(frozen=True)
class Float:
    value: float
    dtype: str


@dataclass(frozen=True)
class Array:
    values: np.ndarray
    dtype: str


@dataclass(frozen=True)
class Other:
    description: str


def _describe(got: object) -> str:
    if got is None:
        return "None (no value: does the function end without `return`?)"
    if isinstance(got, Other):
        return got.description
    if isinstance(got, Array):
        return f"an array of shape {got.values.shape}"
    if isinstance(got, list):
        return f"a sequence of {len(got)} items"
    if isinstance(got, Float):
        return f"the float {got.value!r}"
    return f"the {type(got).__name__} {got!r}"


# --- Comparing: plain values, never the answer's own == ----------------------------------------


@dataclass
class Rule:
    """How a part's result is compared: ``atol``/``rtol`` for numbers; ``whole`` when the task asks
    for an int (then 4.0 is refused with a sentence that says so); ``dtype`` when it asks for one."""

    atol: float = 0.0
    rtol: float = 0.0
    whole: bool = False
    dtype: str | None = None


def _close(got: float, expected: float, rule: Rule) -> bool:
    return abs(got - expected) <= rule.atol + rule.rtol * abs(expected)


def problem(got: object, expected: object, rule: Rule) -> str | None:
    """What is wrong with the decoded ``got`` against ``expected`` (a plain value this module made),
    in words that never show ``expected``; None if it is right."""
    if isinstance(expected, bool) or isinstance(expected, str):
        if type(got) is not type(expected):
            kind = "a string" if isinstance(expected, str) else "True or False"
            return f"expected {kind}, got {_describe(got)}"
        return None if got == expected else "not the right answer"
    if isinstance(expected, (int, float)):
        if isinstance(got, Array) and got.values.ndim == 0:
            got = Float(float(got.values), got.dtype) if got.dtype[0] == "f" else int(got.values)
        if isinstance(got, Float):
            if rule.whole:
                whole = float(got.value).is_integer()
                return (
                    f"expected an int, got the float {got.value!r}: the task asks "
                    f"for a whole number as an int" + (" (int() turns it into one)" if whole else "")
                )
            got = got.value
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return f"expected {'an int' if rule.whole else 'a number'}, got {_describe(got)}"
        return None if _close(got, expected, rule) else "not the right value"
    if isinstance(expected, (tuple, list)):
        if isinstance(got, Array) and got.values.ndim == 1:
            got = [int(v) if got.dtype[0] in "iu" else Float(float(v), got.dtype) for v in got.values]
        if not isinstance(got, list):
            return f"expected a sequence of {len(expected)} items, got {_describe(got)}"
        if len(got) != len(expected):
            return f"expected {len(expected)} items, got {len(got)}"
        for index, (item, wanted) in enumerate(zip(got, expected, strict=True)):
            if (found := problem(item, wanted, rule)) is not None:
                return f"item {index} (counting from 0): {found}"
        return None
    expected = np.asarray(expected, dtype=np.float64)
    if not isinstance(got, Array):
        return f"expected an array (or tensor) of shape {expected.shape}, got {_describe(got)}"
    if got.values.shape != expected.shape:
        same = sorted(got.values.shape) == sorted(expected.shape)
        order = " (the same sizes in another order: check the order of the axes)" if same else ""
        return f"expected shape {expected.shape}, got shape {got.values.shape}{order}"
    wrong = ~(np.abs(got.values - expected) <= rule.atol + rule.rtol * np.abs(expected))  # NaN is wrong
    if not wrong.any():
        return None
    if rule.dtype and got.dtype != rule.dtype:
        loose = np.abs(got.values - expected) <= 1e-4 * (1 + np.abs(expected))
        if loose.all():
            return (
                f"the values are right to about {got.dtype}'s precision, but the result is {got.dtype}: "
                f"the task asks for {rule.dtype} (do not cast to {got.dtype}; keep the inputs' dtype)"
            )
    where = tuple(int(i) for i in np.argwhere(wrong)[0])
    return f"{int(wrong.sum())} of {wrong.size} values are wrong, the first at index {where}"


# --- Parts -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One call of the answer: its arguments, in words for the sentence, and those arguments."""

    words: str
    args: tuple


@dataclass
class Part:
    """A graded part: the function it asks for, its cases, its reference and its known mistakes."""

    function: str
    visible: Callable[[], list[Case]]
    hidden: Callable[[int], list[Case]]
    reference: Callable[..., object]
    forbidden: tuple[str, ...] = ()
    rule: Rule = field(default_factory=Rule)
    hint: str = ""
    mistakes: Callable[..., list[tuple[object, str]]] = lambda *args: []
    also_right: Callable[..., list[object]] = lambda *args: []  # other answers the task allows
    measure: Callable[[Callable, tuple], dict] | None = None  # extra facts measured in the kernel
    judge_measured: Callable[[dict], str | None] | None = None


PARTS: dict[tuple[str, str], Part] = {}


def _part(notebook: str, name: str, part: Part) -> None:
    PARTS[(notebook, name)] = part


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _f64(a: object) -> np.ndarray:
    """A copy of an array, tensor or list as a float64 NumPy array."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.array(a, dtype=np.float64)


def _out(n: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _conv(x, w, b=None, stride=1, padding=0) -> np.ndarray:
    """The reference convolution, float64: x (N, C, H, W), w (K, C, kh, kw), b (K,)."""
    t = [None if a is None else torch.from_numpy(_f64(a)) for a in (x, w, b)]
    return F.conv2d(t[0], t[1], t[2], stride=stride, padding=padding).numpy()


# 01: the worked example, with stride 3 and padding 2 ----------------------------------------------


def _example() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An example like CS231n's: x (3, 5, 5) in 0..2, w (2, 3, 3, 3) in -1..1, b (2,) = (1, 0)."""
    rng = _rng(231)
    return (
        rng.integers(0, 3, (3, 5, 5)).astype(float),
        rng.integers(-1, 2, (2, 3, 3, 3)).astype(float),
        np.array([1.0, 0.0]),
    )


def _shape_cases(seed: int, n: int) -> list[Case]:
    rng, cases = _rng(seed), []
    while len(cases) < n:
        nb, c, k = rng.integers(1, 5, 3).tolist()
        kh, kw, s, p = (
            rng.integers(1, 6).item(),
            rng.integers(1, 6).item(),
            rng.integers(1, 5).item(),
            rng.integers(0, 4).item(),
        )
        h, w = rng.integers(max(kh, kw), 20, 2).tolist()
        if h != w and kh != kw:
            cases.append(
                Case(
                    f"x shape {(nb, c, h, w)}, w shape {(k, c, kh, kw)}, stride {s}, padding {p}",
                    ((nb, c, h, w), (k, c, kh, kw), s, p),
                )
            )
    return cases


def _output_shape(x_shape, w_shape, stride, padding) -> tuple:
    (n, _, h, w), (k, _, kh, kw) = x_shape, w_shape
    return (n, k, _out(h, kh, stride, padding), _out(w, kw, stride, padding))


def _output_shape_mistakes(x_shape, w_shape, stride, padding):
    (n, c, h, w), (k, _, kh, kw) = x_shape, w_shape
    right = _output_shape(x_shape, w_shape, stride, padding)
    return [
        (
            (n, k, (h + padding - kh) // stride + 1, (w + padding - kw) // stride + 1),
            "padding counted once: it is added on both sides, size + 2 * padding",
        ),
        (
            (n, k, (h + 2 * padding - kh) // stride, (w + 2 * padding - kw) // stride),
            "one position too few: the first window counts too (the + 1)",
        ),
        (
            (n, k, _out(h, kh, stride), _out(w, kw, stride)),
            "the padding is missing: the padded input has size + 2 * padding cells",
        ),
        ((n, c, *right[2:]), "one output channel per filter (K = w_shape[0]), not one per input channel"),
        (
            (n, *right[2:], k),
            "PyTorch's order is (N, K, H_out, W_out): the channels come before rows and columns",
        ),
        (
            (n, k, right[3], right[2]),
            "rows and columns swapped: H_out comes from the heights, W_out from the widths",
        ),
        (
            (n, k, -(-(h + 2 * padding - kh) // stride) + 1, -(-(w + 2 * padding - kw) // stride) + 1),
            "rounded up: a window that does not fit is dropped (floor)",
        ),
    ]


_part(
    "01",
    "ex1a",
    Part(
        "output_shape",
        lambda: [
            Case(
                "the example: x shape (1, 3, 5, 5), w shape (2, 3, 3, 3), stride 3, padding 2",
                ((1, 3, 5, 5), (2, 3, 3, 3), 3, 2),
            ),
            Case(
                "x shape (2, 3, 7, 10), w shape (4, 3, 3, 2), stride 2, padding 1",
                ((2, 3, 7, 10), (4, 3, 3, 2), 2, 1),
            ),
        ],
        lambda seed: _shape_cases(seed, 12),
        _output_shape,
        forbidden=("convolution", "output_size"),
        rule=Rule(whole=True),
        hint="count the window positions along each axis of the padded input",
        mistakes=_output_shape_mistakes,
    ),
)


def _window_cases(seed: int) -> list[Case]:
    rng = _rng(seed)
    rows = rng.integers([0, 0, 1, 0], [6, 6, 5, 4], size=(10, 4)).tolist()
    return [
        Case(f"output ({i}, {j}), stride {s}, padding {p}", (i, j, s, p)) for i, j, s, p in rows if i != j
    ]


_part(
    "01",
    "ex1b",
    Part(
        "window_start",
        lambda: [
            Case("output (0, 1), stride 3, padding 2", (0, 1, 3, 2)),
            Case("output (2, 1), stride 2, padding 1", (2, 1, 2, 1)),
        ],
        _window_cases,
        lambda i, j, stride, padding: (i * stride, j * stride),
        forbidden=("convolution",),
        rule=Rule(whole=True),
        hint="output (i, j) is the (i, j)-th window position; each step moves the window by the stride",
        mistakes=lambda i, j, s, p: [
            (
                (j * s, i * s),
                "row and column swapped: the row comes from the output row, the column from the column",
            ),
            ((i, j), "the window moves `stride` cells per output cell: multiply by the stride"),
            (
                (i * s - p, j * s - p),
                "counted in the unpadded input: count in the padded one, whose first rows are zeros",
            ),
            ((i * s + p, j * s + p), "the padding is already part of the padded input: do not add it again"),
        ],
    ),
)


def _value(x, w, b, k, i, j, stride, padding) -> float:
    x_pad = np.pad(_f64(x), ((0, 0), (padding, padding), (padding, padding)))
    kh, kw = np.shape(w)[2:]
    return float((x_pad[:, i * stride : i * stride + kh, j * stride : j * stride + kw] * w[k]).sum() + b[k])


def _value_cases(seed: int) -> list[Case]:
    rng, cases = _rng(seed), []
    for _ in range(8):
        c, kk = rng.integers(1, 4, 2).tolist()
        kh, kw = rng.integers(1, 4, 2).tolist()
        h, w = rng.integers(max(kh, kw) + 1, 9, 2).tolist()
        s, p = rng.integers(1, 4).item(), rng.integers(0, 3).item()
        k, i, j = (
            rng.integers(kk).item(),
            rng.integers(_out(h, kh, s, p)).item(),
            rng.integers(_out(w, kw, s, p)).item(),
        )
        x, wt, b = (
            rng.standard_normal((c, h, w)),
            rng.standard_normal((kk, c, kh, kw)),
            rng.standard_normal(kk),
        )
        cases.append(
            Case(
                f"x {x.shape}, w {wt.shape}, filter {k}, output ({i}, {j}), stride {s}, padding {p}",
                (x, wt, b, k, i, j, s, p),
            )
        )
    return cases


def _value_mistakes(x, w, b, k, i, j, stride, padding):
    found = [(_value(x, w, b, k, i, j, stride, padding) - b[k], "the bias b[k] is missing")]
    h_out, w_out = (
        _out(n, m, stride, padding) for n, m in zip(np.shape(x)[1:], np.shape(w)[2:], strict=True)
    )
    if j < h_out and i < w_out and i != j:
        found.append(
            (_value(x, w, b, k, j, i, stride, padding), "that is output (j, i): row and column swapped")
        )
    found += [
        (_value(x, w, b, other, i, j, stride, padding), "that is another filter's value: use w[k] and b[k]")
        for other in range(len(w))
        if other != k
    ]
    if stride > 1:
        found.append(
            (
                _value(x, w, b, k, i, j, 1, padding),
                "the window is where stride 1 puts it: move it by the stride",
            )
        )
    if padding > 0:
        found.append(
            (
                _value(x, w, b, k, i, j, stride, padding - 1),
                "one row of zeros too few: pad by `padding` on each side",
            )
        )
    found.append(
        (
            float(
                (
                    np.pad(x, ((0, 0), (padding, padding), (padding, padding)))[
                        :, i * stride : i * stride + w.shape[2], j * stride : j * stride + w.shape[3]
                    ]
                    * w[k][:, ::-1, ::-1]
                ).sum()
                + b[k]
            ),
            "the filter is flipped: PyTorch's convolution does not flip it",
        )
    )
    return found


_part(
    "01",
    "ex1c",
    Part(
        "output_value",
        lambda: [
            Case(
                "an example like the lesson's: x (3, 5, 5), filter 0, output (0, 1), stride 3, padding 2",
                (*_example(), 0, 0, 1, 3, 2),
            ),
            Case(
                "x (2, 6, 7), w (3, 2, 3, 2), filter 2, output (1, 2), stride 2, padding 1",
                (
                    _rng(11).standard_normal((2, 6, 7)),
                    _rng(12).standard_normal((3, 2, 3, 2)),
                    _rng(13).standard_normal(3),
                    2,
                    1,
                    2,
                    2,
                    1,
                ),
            ),
        ],
        _value_cases,
        _value,
        forbidden=("convolution", "unfold", "fold"),
        rule=Rule(atol=1e-9),
        hint="outline the window in the padded channels, add its products with w[k], then the bias",
        mistakes=_value_mistakes,
    ),
)

# 02: the output-size formula, backwards ----------------------------------------------------------


def _input_sizes(out, k, s=1, p=0, d=1) -> list[int]:
    span = d * (k - 1) + 1
    return [n for n in range(1, s * out + span + 1) if n + 2 * p >= span and _out(n, k, s, p, d) == out]


def _sizes_cases(seed: int) -> list[Case]:
    rows = _rng(seed).integers([1, 1, 1, 0, 1], [12, 8, 5, 4, 4], size=(25, 5)).tolist()
    rows += [[1, 1, 1, 0, 1], [1, 3, 2, 1, 1], [1, 3, 2, 2, 1], [2, 5, 3, 3, 1]]  # n = 1 right; n <= 0 not
    return [Case(f"input_sizes({o}, {k}, s={s}, p={p}, d={d})", (o, k, s, p, d)) for o, k, s, p, d in rows]


def _sizes_mistakes(out, k, s, p, d):
    right = _input_sizes(out, k, s, p, d)
    found = []
    if len(right) > 1:
        found += [
            (
                [right[0]],
                "only one size: with a stride above 1 the floor gives the "
                "same output for several sizes; list all",
            ),
            (
                [right[-1]],
                "only one size: with a stride above 1 the floor gives the "
                "same output for several sizes; list all",
            ),
        ]
    found.append(
        ([n + p for n in right if n + p >= 1], "padding counted once: it is added on both sides, n + 2p")
    )
    found.append(
        (
            [n for n in range(right[0] - s + 1, right[0] + 1) if n >= 1] if right else [],
            "the floor rounds down: sizes above the smallest one keep its output, not sizes below",
        )
    )
    if d > 1:
        found.append(
            (
                _input_sizes(out, k, s, p, 1),
                "dilation ignored: with dilation d, k taps span d * (k - 1) + 1 cells",
            )
        )
    return [(wrong, words) for wrong, words in found if wrong != right]


_part(
    "02",
    "ex1",
    Part(
        "input_sizes",
        lambda: [
            Case(f"input_sizes{args}", args)
            for args in [(28, 5, 1, 0, 1), (4, 3, 2, 1, 1), (3, 3, 2, 2, 2), (1, 3, 2, 2, 1)]
        ],
        _sizes_cases,
        _input_sizes,
        forbidden=("convolution", "output_size"),
        rule=Rule(whole=True),
        hint="solve the formula for n: out - 1 <= (n + 2p - span) / s < out, and keep n >= 1",
        mistakes=_sizes_mistakes,
    ),
)


def _field(layers) -> int:
    """The receptive field's extent: from the first to the last input cell one output reads."""
    extent, step = 1, 1
    for k, s, d in layers:
        extent += d * (k - 1) * step
        step *= s
    return extent


def _field_count(layers) -> int:
    """How many distinct input cells one output reads (smaller than the extent with dilation)."""
    cells = {0}
    step = 1
    for k, s, d in layers:
        cells = {c + tap * d * step for c in cells for tap in range(k)}
        step *= s
    return len(cells)


def _field_cases(seed: int) -> list[Case]:
    rng, cases = _rng(seed), []
    for _ in range(14):
        layers = [
            tuple(layer)
            for layer in rng.integers([1, 1, 1], [6, 4, 4], size=(rng.integers(1, 5), 3)).tolist()
        ]
        cases.append(Case(f"receptive_field({layers})", (layers,)))
    return cases


def _field_mistakes(layers):
    total = sum(k for k, _, _ in layers) - len(layers) + 1
    own = 1
    step = 1
    for k, s, d in layers:
        step *= s
        own += d * (k - 1) * step
    return [
        (
            _field_count(layers),
            "that counts the cells it reads: the task asks for the "
            "extent, from the first to the last cell, the gaps of dilation included",
        ),
        (
            sum(d * (k - 1) for k, _, d in layers) + 1,
            "the strides are missing: after a stride-2 layer one step is 2 input cells",
        ),
        (own, "a layer's own stride counted: a stride only spreads out the layers above it"),
        (total, "dilation and strides ignored: each layer adds its span minus one, in input cells"),
    ]


_part(
    "02",
    "ex2",
    Part(
        "receptive_field",
        lambda: [
            Case(f"receptive_field({layers})", (layers,))
            for layers in [
                [(3, 1, 1), (3, 1, 1)],
                [(3, 2, 1), (3, 2, 1), (3, 1, 1)],
                [(3, 1, 2)],
                [(3, 1, 1), (3, 1, 2), (3, 1, 4)],
            ]
        ],
        _field_cases,
        lambda layers: _field(layers),
        forbidden=("convolution", "autograd"),
        rule=Rule(whole=True),
        hint="add each layer's span minus one, in input cells: the strides of the layers below it multiply",
        mistakes=_field_mistakes,
    ),
)


def _padding_for(n_in, n_out, k, s) -> int:
    return next(p for p in range(4 * k + 4 * s) if _out(n_in, k, s, p) == n_out)


def _padding_cases(seed: int) -> list[Case]:
    rng = _rng(seed)
    cases = [
        Case(f"padding_for({n}, {o}, {k}, {s})", (n, o, k, s)) for n, o, k, s in [(14, 4, 3, 3), (9, 9, 1, 1)]
    ]
    while len(cases) < 12:
        n, k, s, p = (
            rng.integers(5, 300).item(),
            rng.integers(1, 8).item(),
            rng.integers(1, 4).item(),
            rng.integers(0, 5).item(),
        )
        if n + 2 * p >= k:
            n_out = _out(n, k, s, p)
            cases.append(Case(f"padding_for({n}, {n_out}, {k}, {s})", (n, n_out, k, s)))
    return cases


_part(
    "02",
    "ex3",
    Part(
        "padding_for",
        lambda: [
            Case("padding_for(224, 112, 7, 2), ResNet's first layer", (224, 112, 7, 2)),
            Case("padding_for(32, 16, 3, 2)", (32, 16, 3, 2)),
            Case("padding_for(10, 12, 3, 1)", (10, 12, 3, 1)),
        ],
        _padding_cases,
        _padding_for,
        forbidden=("convolution", "output_size"),
        rule=Rule(whole=True),
        hint=(
            "solve floor((n_in + 2p - k) / s) + 1 = n_out for the "
            "smallest p >= 0, then check it in the formula"
        ),
        mistakes=lambda n, o, k, s: [
            (
                2 * _padding_for(n, o, k, s),
                "that is the total padding: nn.Conv2d's padding is added on each side",
            ),
            (_padding_for(n, o, k, s) - 1, "one cell short: with this padding the output is smaller"),
            (_padding_for(n, o, k, s) + 1, "not the smallest padding that works"),
        ],
    ),
)

# 03: statistics of images, back to bytes, gray ----------------------------------------------------


def _images(seed: int, n: int, h: int, w: int) -> torch.Tensor:
    return torch.from_numpy(_rng(seed).random((n, 3, h, w), dtype=np.float32))


def _image_cases(seed: int) -> list[Case]:
    rng = _rng(seed)
    return [
        Case(f"images of shape {(n, 3, h, w)}", (_images(seed + i, n, h, w),))
        for i, (n, h, w) in enumerate(rng.integers([2, 3, 3], [9, 12, 12], size=(4, 3)).tolist())
    ]


def _stat_visible() -> list[Case]:
    return [
        Case("images of shape (5, 3, 4, 6)", (_images(30, 5, 4, 6),)),
        Case("images of shape (2, 3, 7, 3)", (_images(31, 2, 7, 3) ** 3,)),
    ]


def _mean(images) -> np.ndarray:
    return _f64(images).mean(axis=(0, 2, 3))


def _std(images, ddof: int = 0) -> np.ndarray:
    return _f64(images).std(axis=(0, 2, 3), ddof=ddof)


_part(
    "03",
    "ex1a",
    Part(
        "channel_mean",
        _stat_visible,
        _image_cases,
        _mean,
        rule=Rule(atol=1e-5),
        hint="one mean per channel, over every image, row and column",
        mistakes=lambda images: [
            (
                _f64(images).mean(axis=(1, 2, 3)),
                "one mean per image: average over the images, rows and columns, per channel",
            )
        ],
    ),
)


_part(
    "03",
    "ex1b",
    Part(
        "channel_std",
        _stat_visible,
        _image_cases,
        _std,
        rule=Rule(atol=1e-5),
        also_right=lambda images: [_std(images, ddof=1)],  # either divisor: torch's default or NumPy's
        hint="one standard deviation per channel, over every image, row and column together",
        mistakes=lambda images: [
            *[
                (
                    _f64(images).var(axis=(0, 2, 3), ddof=ddof),
                    "that is the variance: the standard deviation is its square root",
                )
                for ddof in (0, 1)
            ],
            *[
                (
                    _f64(images).std(axis=(2, 3), ddof=ddof).mean(axis=0),
                    "the average of each image's own spread: take all pixels of a channel together",
                )
                for ddof in (0, 1)
            ],
        ],
    ),
)


def _normalised(byte: int, mean: float, std: float) -> float:
    """What ToTensor then Normalize(mean, std) make of a stored byte, in float32 as PyTorch does."""
    value = torch.tensor([[[byte]]], dtype=torch.uint8).float() / 255
    return float((value - mean) / std)


def _byte_cases(seed: int) -> list[Case]:
    rng = _rng(seed)
    rows = zip(
        rng.integers(0, 256, 12).tolist(),
        rng.uniform(0.2, 0.6, 12).round(3).tolist(),
        rng.uniform(0.15, 0.5, 12).round(3).tolist(),
        strict=True,
    )
    return [
        Case(f"a value normalised with mean {m} and std {s}", (_normalised(b, m, s), m, s))
        for b, m, s in rows
    ]


def _byte(value, mean, std) -> int:
    return round((value * std + mean) * 255)


_part(
    "03",
    "ex2a",
    Part(
        "stored_byte",
        lambda: [
            Case(f"a value normalised with mean {m} and std {s}", (_normalised(b, m, s), m, s))
            for b, m, s in [(7, 0.5, 0.5), (163, 0.5, 0.5), (90, 0.491, 0.247)]
        ],
        _byte_cases,
        _byte,
        rule=Rule(whole=True),
        hint="undo Normalize (x = value * std + mean), then ToTensor() (times 255), and round",
        mistakes=lambda v, m, s: [
            (
                int((v * s + m) * 255),
                "int() cuts a number just under a whole one down to the one below: round it",
            ),
            (round(v * 255), "Normalize is not undone: x = value * std + mean comes first"),
            (
                round(v * 255 * s + m),
                "undone in the wrong order: first Normalize (x = value * std + mean), then times 255",
            ),
            (round((v * m + s) * 255), "mean and std swapped: x = value * std + mean"),
        ],
    ),
)

GRAY = (0.299, 0.587, 0.114)


def _gray(images) -> np.ndarray:
    return (_f64(images) * np.reshape(GRAY, (1, 3, 1, 1))).sum(axis=1, keepdims=True)


_part(
    "03",
    "ex2b",
    Part(
        "to_gray",
        lambda: [
            Case("images of shape (2, 3, 4, 5)", (_images(40, 2, 4, 5),)),
            Case("images of shape (1, 3, 6, 2)", (_images(41, 1, 6, 2),)),
        ],
        _image_cases,
        _gray,
        forbidden=("convolution",),
        rule=Rule(atol=1e-5),
        hint="weight channel 0 (red) by 0.299, channel 1 by 0.587, channel 2 by 0.114, and add them",
        mistakes=lambda images: [
            (_gray(images)[:, 0], "the channel axis is gone: keep it, of size 1 (keepdim=True)"),
            (
                _f64(images).mean(axis=1, keepdims=True),
                "all channels weigh the same: use the three weights",
            ),
            (_gray(_f64(images)[:, ::-1]), "the weights are in reverse order: red is channel 0"),
        ],
    ),
)

# 04: conv2d_im2col -------------------------------------------------------------------------------


def _conv_case(rng, n, c, h, w, k, kh, kw, stride=1, padding=0) -> Case:
    x, wt, b = (torch.from_numpy(rng.standard_normal(s)) for s in [(n, c, h, w), (k, c, kh, kw), (k,)])
    return Case(
        f"x {tuple(x.shape)}, w {tuple(wt.shape)}, stride {stride}, padding {padding}",
        (x, wt, b, stride, padding),
    )


def _conv_random(seed: int, strided: bool, count: int = 5) -> list[Case]:
    rng, cases = _rng(seed), []
    for _ in range(count):
        n, c, k, kh, kw = rng.integers([1 + strided, 1, 1, 1, 1], [5, 4, 5, 5, 5]).tolist()
        h, w = rng.integers(max(kh, kw), 13, size=2).tolist()
        s, p = (rng.integers(1, 4).item(), rng.integers(0, 3).item()) if strided else (1, 0)
        cases.append(_conv_case(rng, n, c, h, w, k, kh, kw, s, p))
    return cases


def _conv_mistakes(x, w, b, stride, padding):
    right = _conv(x, w, b, stride, padding)
    found = [
        (_conv(x, w, None, stride, padding), "the biases are missing: add b[k] to every output of filter k")
    ]
    if right.shape[2] == right.shape[3]:
        found.append(
            (
                right.transpose(0, 1, 3, 2),
                "rows and columns swapped: column i * W_out + j of the product is output (i, j)",
            )
        )
    nlk = right.reshape(right.shape[0], right.shape[1], -1).transpose(0, 2, 1).reshape(right.shape)
    found.append((nlk, "an (N, L, K) product reshaped as it is: move K before L first"))
    flipped = _conv(x, _f64(w)[:, :, ::-1, ::-1], b, stride, padding)
    found.append((flipped, "the kernel is flipped: PyTorch's convolution does not flip it"))
    if stride > 1 or padding > 0:
        found.append((_conv(x, w, b, 1, padding), "the stride is missing"))
        found.append((_conv(x, w, b, stride, 0), "the padding is missing"))
    return [
        (wrong, words)
        for wrong, words in found
        if wrong.shape != right.shape or not np.allclose(wrong, right)
    ]


def _conv_part(visible: Callable[[], list[Case]], strided: bool, seed_offset: int) -> Part:
    return Part(
        "conv2d_im2col",
        visible,
        lambda seed: _conv_random(seed + seed_offset, strided),
        lambda x, w, b, stride, padding: _conv(x, w, b, stride, padding),
        forbidden=("convolution",),
        rule=Rule(atol=1e-10, dtype="float64"),
        hint=(
            "multiply the (K, C*kh*kw) weights by the unfolded columns, "
            "add b, reshape to (N, K, H_out, W_out)"
        ),
        mistakes=_conv_mistakes,
    )


_part("04", "ex1a", _conv_part(lambda: [_conv_case(_rng(50), 1, 3, 12, 12, 4, 5, 5)], False, 0))
_part(
    "04",
    "ex1b",
    _conv_part(
        lambda: [_conv_case(_rng(51), 3, 2, 7, 9, 5, 3, 2), _conv_case(_rng(52), 2, 3, 6, 11, 4, 2, 3)],
        False,
        1,
    ),
)
_part(
    "04",
    "ex1c",
    _conv_part(
        lambda: [
            _conv_case(_rng(53), 2, 3, 8, 11, 4, 3, 3, 2, 1),
            _conv_case(_rng(53), 2, 3, 8, 11, 4, 3, 3, 3, 2),
        ],
        True,
        2,
    ),
)

# 05: judgment: the roofline, and Winograd's F(2, 3) -------------------------------------------------


def _bound(flops, bytes_moved, peak_gflops, bandwidth_gbs) -> str:
    return "memory" if flops / bytes_moved < peak_gflops / bandwidth_gbs else "compute"


def _roof_cases(seed: int) -> list[Case]:
    rng, cases = _rng(seed), []
    for _ in range(12):
        flops, bytes_moved = float(rng.integers(10**6, 10**10)), float(rng.integers(10**5, 10**9))
        peak, bw = float(rng.integers(50, 3000)), float(rng.integers(10, 900))
        if abs(flops / bytes_moved - peak / bw) > 0.05 * peak / bw:
            measured = round(float(rng.uniform(0.1, 0.9)) * min(peak, flops / bytes_moved * bw), 3)
            cases.append(
                Case(
                    f"{flops:.3g} FLOPs, {bytes_moved:.3g} bytes, peak {peak:g} GFLOP/s, {bw:g} GB/s",
                    (measured, flops, bytes_moved, peak, bw),
                )
            )
    return cases


_part(
    "05",
    "ex1a",
    Part(
        "bound_by",
        lambda: [
            Case(
                "the 64->64 3x3 layer: 1.2e9 FLOPs, 5.0e6 bytes, peak 1000 GFLOP/s, 50 GB/s",
                (1.2e9, 5.0e6, 1000.0, 50.0),
            ),
            Case(
                "a 1x1 layer: 6.7e7 FLOPs, 1.7e7 bytes, peak 1000 GFLOP/s, 50 GB/s",
                (6.7e7, 1.7e7, 1000.0, 50.0),
            ),
        ],
        lambda seed: [Case(c.words, c.args[1:]) for c in _roof_cases(seed)],
        _bound,
        hint=(
            "compare the layer's arithmetic intensity (FLOPs per byte) "
            "with the machine's peak_gflops / bandwidth_gbs"
        ),
        mistakes=lambda f, b, p, w: [
            (
                {"memory": "compute", "compute": "memory"}[_bound(f, b, p, w)],
                "the other way round: below the ridge point (few FLOPs per byte) a layer waits for memory",
            )
        ],
    ),
)


def _fraction(measured, flops, bytes_moved, peak_gflops, bandwidth_gbs) -> float:
    return measured / min(peak_gflops, flops / bytes_moved * bandwidth_gbs)


_part(
    "05",
    "ex1b",
    Part(
        "roofline_fraction",
        lambda: [
            Case(
                "measured 150 GFLOP/s, 1.2e9 FLOPs, 5.0e6 bytes, peak 1000 GFLOP/s, 50 GB/s",
                (150.0, 1.2e9, 5.0e6, 1000.0, 50.0),
            ),
            Case(
                "measured 120 GFLOP/s, 6.7e7 FLOPs, 1.7e7 bytes, peak 1000 GFLOP/s, 50 GB/s",
                (120.0, 6.7e7, 1.7e7, 1000.0, 50.0),
            ),
        ],
        _roof_cases,
        _fraction,
        rule=Rule(rtol=1e-6),
        hint="the roof is the lower of the peak and intensity * bandwidth; divide the measured GFLOP/s by it",
        mistakes=lambda m, f, b, p, w: [
            (m / p, "measured against the peak alone: a memory-bound layer's roof is intensity * bandwidth"),
            (
                m / (f / b * w),
                "measured against the memory roof alone: a compute-bound layer's roof is the peak",
            ),
            (100 * _fraction(m, f, b, p, w), "a percentage: return a fraction between 0 and 1"),
        ],
    ),
)


class Counted:
    """A number that counts the multiplies between data (d) and filter (g) values it takes part in:
    the check hands these to ``winograd_f23`` to count its multiplies."""

    def __init__(self, value: float, sources: frozenset, counter: list):
        self.value, self.sources, self.counter = float(value), sources, counter

    def _wrap(self, other, value, multiply=False):
        theirs = other.sources if isinstance(other, Counted) else frozenset()
        if multiply and self.sources and theirs and (self.sources | theirs) >= {"d", "g"}:
            self.counter[0] += 1
        return Counted(value, self.sources | theirs, self.counter)

    @staticmethod
    def _v(other):
        if isinstance(other, Counted):
            return other.value
        if isinstance(other, (int, float, np.integer, np.floating)) and not isinstance(other, bool):
            return float(other)
        raise CheckFailed("winograd_f23: use plain arithmetic (+, -, *, /) on the items of d and g")

    def __add__(self, other):
        return self._wrap(other, self.value + self._v(other))

    __radd__ = __add__

    def __sub__(self, other):
        return self._wrap(other, self.value - self._v(other))

    def __rsub__(self, other):
        return self._wrap(other, self._v(other) - self.value)

    def __mul__(self, other):
        return self._wrap(other, self.value * self._v(other), multiply=True)

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self._wrap(other, self.value / self._v(other), multiply=isinstance(other, Counted))

    def __neg__(self):
        return Counted(-self.value, self.sources, self.counter)

    def __float__(self):
        raise CheckFailed(
            "winograd_f23 turned an item into a plain float: use +, -, "
            "*, / on the items of d and g, so that the check can count the multiplies"
        )


def _winograd_reference(d, g) -> list[float]:
    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]


def _count_multiplies(function: Callable, args: tuple) -> dict:
    """Call the answer on counting numbers: how many data-times-filter multiplies it made."""
    counter = [0]
    d = [Counted(v, frozenset("d"), counter) for v in args[0]]
    g = [Counted(v, frozenset("g"), counter) for v in args[1]]
    _, names, error = _guarded_call(function, (d, g))
    return {"multiplies": counter[0], "error": error, "calls": sorted(names)}


def _judge_multiplies(measured: dict) -> str | None:
    if measured.get("error"):
        return f"called with numbers that count its multiplies, {measured['error']}"
    count = measured.get("multiplies")
    if count == 4:
        return None
    if count == 6:
        return (
            "6 multiplies: that is the direct method; Winograd's F(2, 3) "
            "makes 4 (m1 to m4), the filter's transform being computed once"
        )
    return f"{count} multiplies of data by filter values: Winograd's F(2, 3) makes exactly 4 (m1 to m4)"


def _winograd_cases(seed: int) -> list[Case]:
    rng = _rng(seed)
    return [
        Case(
            f"d of 4 and g of 3 random values (case {i})",
            (rng.standard_normal(4).round(3).tolist(), rng.standard_normal(3).round(3).tolist()),
        )
        for i in range(6)
    ]


_part(
    "05",
    "ex2",
    Part(
        "winograd_f23",
        lambda: [
            Case("d = [1, 2, 3, 4], g = [1, 0, -1]", ([1.0, 2.0, 3.0, 4.0], [1.0, 0.0, -1.0])),
            Case("d = [0.5, -1, 2, 3], g = [2, 1, 0.5]", ([0.5, -1.0, 2.0, 3.0], [2.0, 1.0, 0.5])),
        ],
        _winograd_cases,
        _winograd_reference,
        forbidden=("convolution",),
        rule=Rule(atol=1e-9),
        hint="y0 = m1 + m2 + m3 and y1 = m2 - m3 - m4, with the m's of the lesson's F(2, 3)",
        mistakes=lambda d, g: [
            (
                _winograd_reference(d, g[::-1]),
                "that is a true convolution (the filter flipped): the layer computes a cross-correlation",
            ),
            (_winograd_reference(d, g)[::-1], "y0 and y1 swapped"),
        ],
        measure=_count_multiplies,
        judge_measured=_judge_multiplies,
    ),
)

# 06: the three gradients ---------------------------------------------------------------------------


def _backward_case(rng, size, kernel, stride, padding, n=2, c=3, k=4) -> Case:
    x, w = rng.standard_normal((n, c, *size)), rng.standard_normal((k, c, *kernel))
    dy = rng.standard_normal(
        (n, k, *(_out(a, b, stride, padding) for a, b in zip(size, kernel, strict=True)))
    )
    return Case(f"x {x.shape}, w {w.shape}, stride {stride}, padding {padding}", (x, w, dy, stride, padding))


def _gradients(x, w, dy, stride, padding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dx, dw, db) of conv2d(x, w, b) for the output gradient dy, by autograd, float64."""
    xt, wt = (torch.tensor(_f64(a), requires_grad=True) for a in (x, w))
    bt = torch.zeros(len(w), dtype=torch.float64, requires_grad=True)
    F.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.from_numpy(_f64(dy)))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _backward_cases(seed: int, strided: bool = True) -> list[Case]:
    rng = _rng(seed)
    settings = [
        ((7, 6), (3, 2), 1, 0),
        ((8, 9), (3, 3), 2, 1),
        ((5, 5), (5, 5), 1, 2),
        ((10, 7), (2, 4), 3, 1),
    ]
    if not strided:
        settings = [((7, 6), (3, 2), 1, 0), ((6, 9), (3, 3), 1, 0), ((5, 8), (2, 4), 1, 0)]
    return [_backward_case(rng, *setting) for setting in settings]


def _visible_backward() -> list[Case]:
    return [_backward_case(_rng(5), (7, 6), (3, 2), 2, 1)]


def _as_part(
    function: str,
    args: Callable,
    reference: Callable,
    forbidden,
    hint,
    mistakes,
    visible=_visible_backward,
    strided=True,
) -> Part:
    """A part of 06: its cases are (x, w, dy, stride, padding); ``args`` picks the function's arguments."""

    def pick(cases: list[Case]) -> list[Case]:
        return [Case(case.words, args(*case.args)) for case in cases]

    return Part(
        function,
        lambda: pick(visible()),
        lambda seed: pick(_backward_cases(seed, strided)),
        reference,
        forbidden,
        Rule(atol=1e-9, dtype="float64"),
        hint,
        mistakes,
    )


def _db(dy) -> np.ndarray:
    return np.asarray(dy).sum(axis=(0, 2, 3))


_part(
    "06",
    "ex1a",
    _as_part(
        "bias_gradient",
        lambda x, w, dy, s, p: (dy,),
        _db,
        ("convolution", "autograd", "unfold", "fold"),
        "db[k] collects dy over every place where b[k] was added",
        lambda dy: [
            (
                dy.mean(axis=(0, 2, 3)),
                "that is a mean: the bias is added at every position, so the gradient is a sum",
            ),
            (
                dy.sum(axis=(2, 3)),
                "one gradient per image: the same b serves every image, so sum over the batch too",
            ),
            (
                dy.sum(axis=(0, 1, 2)),
                "summed over the wrong axes: one gradient per filter, over images, rows and columns",
            ),
        ],
    ),
)


def _dw(x, dy, kernel_size, stride, padding) -> np.ndarray:
    w = np.zeros((dy.shape[1], x.shape[1], *kernel_size))
    return _gradients(x, w, dy, stride, padding)[1]


def _dw_mistakes(x, dy, kernel_size, stride, padding):
    per_image = np.stack(
        [_dw(x[n : n + 1], dy[n : n + 1], kernel_size, stride, padding) for n in range(len(x))]
    )
    found = [
        (per_image, "one gradient per image: the same w serves every image, so sum over the batch"),
        (per_image.mean(axis=0), "an average over the images: the loss adds them up, so sum"),
        (per_image[0], "only the first image: sum the gradients of every image"),
    ]
    if stride > 1:
        reversed_offsets = per_image.sum(axis=0)[:, :, ::-1, ::-1]
        found.append(
            (
                reversed_offsets,
                "the kernel offsets are reversed: dw[k, c, p, q] pairs dy "
                "with x at offset (p, q) of each window",
            )
        )
    return found


_part(
    "06",
    "ex1b",
    _as_part(
        "weight_gradient",
        lambda x, w, dy, s, p: (x, dy, tuple(w.shape[2:]), s, p),
        _dw,
        ("convolution", "autograd", "fold"),
        "dw[k] adds dy[n, k, i, j] times the window of output (i, j), over every image and position",
        _dw_mistakes,
    ),
)


def _dx(dy, w, input_size, stride, padding) -> np.ndarray:
    x = np.zeros((dy.shape[0], w.shape[1], *input_size))
    return _gradients(x, w, dy, stride, padding)[0]


def _dx_mistakes(dy, w, input_size, stride, padding):
    x = np.zeros((dy.shape[0], w.shape[1], *input_size))
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    found = [
        (
            _gradients(padded, w, dy, stride, 0)[0],
            "the padding is still there: cut `padding` rows and columns off each side",
        )
    ]
    found.append(
        (
            _dx(dy, w[:, :, ::-1, ::-1], input_size, stride, padding),
            "the kernel is flipped: dy[n, k, i, j] * w[k] goes back into the window as it is",
        )
    )
    if padding == 0:
        found.append(
            (
                np.zeros((dy.shape[0], w.shape[1], 0, 0)),
                "empty: x[p:-p] is empty when p = 0; crop with [p : p + H]",
            )
        )
    return found


def _dx_assign(dy, w, input_size, stride, padding) -> np.ndarray:
    """The mistake of assigning (=) where windows overlap: each pixel keeps the last window's share."""
    n, c = dy.shape[0], w.shape[1]
    kh, kw = w.shape[2:]
    out = np.zeros((n, c, input_size[0] + 2 * padding, input_size[1] + 2 * padding))
    for b, k, i, j in itertools.product(range(n), range(dy.shape[1]), range(dy.shape[2]), range(dy.shape[3])):
        out[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw] = dy[b, k, i, j] * w[k]
    return out[:, :, padding : padding + input_size[0], padding : padding + input_size[1]]


def _dx_part(visible, strided: bool) -> Part:
    return _as_part(
        "input_gradient_loops",
        lambda x, w, dy, s, p: (dy, w, tuple(x.shape[2:]), s, p),
        _dx,
        ("convolution", "autograd", "unfold", "fold"),
        "each window sends dy[n, k, i, j] * w[k] back to every pixel "
        "it covers; a pixel in several windows gets them all",
        lambda *args: (
            _dx_mistakes(*args)
            + [(_dx_assign(*args), "each pixel kept one window's share: add (+=), do not assign")]
        ),
        visible=visible,
        strided=strided,
    )


_part(
    "06",
    "ex1c1",
    _dx_part(lambda: [_backward_case(_rng(60), (6, 7), (3, 3), 1, 0, n=1, c=2, k=2)], strided=False),
)
_part("06", "ex1c2", _dx_part(_visible_backward, strided=True))

# --- Running a part: visible checks, grading results, scoring -------------------------------------


def _snapshot(value: object) -> object:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


def _same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            type(a) is type(b)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and np.array_equal(a, b, equal_nan=True)
        )
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def run(part: Part, function: object, case: Case) -> dict:
    """Call the answer on copies of one case's arguments, under the guard: plain data only."""
    if not callable(function) or isinstance(function, type):
        return {
            "value": {"kind": "none"},
            "error": f"expected a function named {part.function}, got {type(function).__name__}",
            "calls": [],
            "changed": [],
        }
    originals = case.args
    args = tuple(_snapshot(a) for a in originals)
    result, names, error = _guarded_call(function, args)
    value = encode(result) if error is None else {"kind": "none"}
    changed = [
        str(index) for index, (a, b) in enumerate(zip(args, originals, strict=True)) if not _same(a, b)
    ]
    outcome = {"value": value, "error": error, "calls": sorted(names), "changed": changed}
    if part.measure is not None and error is None:
        outcome["measured"] = part.measure(function, tuple(_snapshot(a) for a in originals))
    return outcome


def judge(part: Part, case: Case, outcome: dict) -> str | None:
    """The verdict on one case's outcome (plain data), in the grader or the kernel: None if right."""
    prefix = f"{part.function}, {case.words}"
    if not isinstance(outcome, dict):
        return f"{prefix}: no result was recorded"
    calls = [str(name) for name in outcome.get("calls", [])]
    if used := forbidden_calls(calls, part.forbidden):
        words, name = used[0]
        return (
            f"{prefix}: it calls {name}, which is {words}, and this part "
            f"asks you not to use one: write that step yourself"
        )
    if outcome.get("error"):
        return f"{prefix}: {outcome['error']}"
    if outcome.get("changed"):
        index = int(outcome["changed"][0])
        return (
            f"{prefix}: it changed its argument number {index + 1} in "
            f"place; leave the inputs as they were (work on a copy)"
        )
    got = decode(outcome.get("value", {}))
    expected = part.reference(*case.args)
    found = problem(got, expected, part.rule)
    if found is not None and any(
        problem(got, right, part.rule) is None for right in part.also_right(*case.args)
    ):
        found = None
    if found is not None:
        for wrong, words in part.mistakes(*copy.deepcopy(case.args)):
            if problem(got, _plainish(wrong), part.rule) is None:
                return f"{prefix}: {words}"
        return f"{prefix}: {found}" + (f"; {part.hint}" if part.hint else "")
    if part.judge_measured is not None:
        measured = outcome.get("measured")
        if not isinstance(measured, dict):
            return f"{prefix}: nothing was measured"
        if used := forbidden_calls([str(n) for n in measured.get("calls", [])], part.forbidden):
            return (
                f"{prefix}: it calls {used[0][1]}, which is {used[0][0]}, and "
                f"this part asks you not to use one"
            )
        return None if (verdict := part.judge_measured(measured)) is None else f"{prefix}: {verdict}"
    return None


def _plainish(value: object) -> object:
    """A mistake's value as a reference would be: ints, floats, tuples, strings or float64 arrays."""
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _f64(value)
    return value


def _part_of(notebook: str, name: str) -> Part:
    if (notebook, name) not in PARTS:
        raise ValueError(f"part: no part {name!r} in notebook {notebook!r}")
    return PARTS[(notebook, name)]


def check(notebook: str, name: str, function: object) -> None:
    """A visible check: the part's own cases; a tick per case, or ``CheckFailed`` with a sentence."""
    part = _part_of(notebook, name)
    cases = part.visible()
    for case in cases:
        if (verdict := judge(part, case, run(part, function, case))) is not None:
            raise CheckFailed(verdict) from None
    print(f"\N{CHECK MARK} {part.function}: correct on {len(cases)} case{'s' * (len(cases) > 1)}")


def results(notebook: str, name: str, function: object, seed: int) -> dict:
    """The answer's outcomes on the hidden cases of ``seed``: plain data for the grader."""
    part = _part_of(notebook, name)
    return {
        "notebook": notebook,
        "part": name,
        "seed": seed,
        "outcomes": [run(part, function, case) for case in part.hidden(seed)],
    }


def grade(notebook: str, name: str, function: object, seed: int) -> None:
    """At grading: publish the answer's results on the hidden cases, and nothing else. The score
    is decided by the grader (``score``), in its own process."""
    from IPython.display import display

    payload = json.dumps(results(notebook, name, function, seed))
    display({MIME: payload, "text/plain": f"results of {name} recorded for the grader"}, raw=True)


def score(notebook: str, name: str, seed: int, payload: object) -> str | None:
    """The grader's verdict on a published payload (recomputing every reference here): None if
    every hidden case is right, else the sentence for the first wrong one."""
    part = _part_of(notebook, name)
    cases = part.hidden(seed)
    try:
        data = json.loads(payload) if isinstance(payload, str) else payload
        outcomes = data["outcomes"]
        if data.get("notebook") != notebook or data.get("part") != name or len(outcomes) != len(cases):
            return f"{part.function}: the results recorded are not this part's"
    except (ValueError, TypeError, KeyError):
        return f"{part.function}: the results recorded could not be read"
    for case, outcome in zip(cases, outcomes, strict=True):
        try:
            verdict = judge(part, case, outcome)
        except Exception as failed:  # a malformed outcome is a wrong one
            verdict = f"{part.function}, {case.words}: the result could not be read ({type(failed).__name__})"
        if verdict is not None:
            return verdict
    return None

"""How fast, and how lean, are the series' convolutions next to PyTorch's ``F.conv2d``?

    python benchmarks/bench_conv.py           # the full run (`make bench`), a minute or two
    python benchmarks/bench_conv.py --quick   # seconds, small batches: the test suite runs this

It prints one table (implementation, case, median and min ms per call, GFLOP/s, time as a
multiple of F.conv2d's and of the bare matrix multiply's, peak extra memory), then whether
``conv2d_blocked``, the series' im2col tuned for speed below, meets its targets on cases b and
c. Both targets hold our code to what it does itself: its time at most 1.3x the time of the
matrix multiplies it performs ("GEMM alone": the same ``np.matmul`` calls on the same blocks of
columns, built beforehand), so that building the columns and writing the output cost at most
30% on top, by the median ratio and by the ratio of the fastest times both (on a busy machine
the two-thread GEMM slows down more than the one-thread copies, and the median alone flatters
the copies); its memory at most 1.25x a whole column matrix plus the output. F.conv2d is in the
table as information: oneDNN's direct convolution builds no column matrix at all, so no im2col
is held to its time. The plain ``utils.conv2d_im2col`` of the notebooks is in the table too.
The table (CSV) and a plot (PNG) go to ``build/bench/``.

Times come from ``torch.utils.benchmark.Timer``: every implementation of a case runs a block
of calls in turn, round after round in one process, so a slow spell of a shared machine hits
them all alike; ``x_gemm`` and ``x_conv2d`` are the medians of the round-by-round ratios to the
bare GEMM's and to F.conv2d's time, ``x_gemm_min`` and ``x_conv2d_min`` the ratios of the
fastest times. The
load average is printed before and after: on a busy machine every time grows, the ratios less.
The idle threads of NumPy and PyTorch are told to sleep at once, so that neither slows the
other down (see below). Memory comes from ``tracemalloc``, which sees every NumPy array;
PyTorch allocates outside of it, so its implementations show no memory figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

# NumPy (OpenBLAS threads) and PyTorch (OpenMP threads) alternate in this one process. By
# default a library's idle threads keep spinning on the cores after each call (OpenBLAS's for
# about 0.1 s) and slow down whichever library runs next: on a 2-core machine that moved the
# ratios to F.conv2d by up to 2x, in either direction. Threads that go to sleep at once time
# each call as if it ran on its own. Set before NumPy and PyTorch load; a value you set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # 2**4 cycles: the least OpenBLAS takes

import matplotlib

matplotlib.use("Agg")  # write files, open no window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view

import utils

REPO = Path(__file__).resolve().parent.parent

TIME_TARGET = 1.3  # conv2d_blocked: at most this many times its GEMM alone (median and fastest)
MEMORY_TARGET = 1.25  # and at most this many times (column matrix + output) of extra memory
TARGET_CASES = ("b", "c")
# conv2d_blocked builds its column matrix in blocks of about this size: 2 MiB stays in the
# cache of most processors (L2 or L3), so the matrix multiply reads what was just written.
# (0.5, 1, 2 and 4 MiB took the same time, within the noise, on a 2-core Xeon with 2 MiB of L2.)
COLUMN_BLOCK_BYTES = 2 * 2**20


def blocked_operands(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """What conv2d_blocked multiplies, and in blocks of how many images.

    Returns the windows of x as a view, (C, kh, kw, N, H_out, W_out), in the order of the rows
    and columns of the column matrix; the filter matrix (K, C*kh*kw + 1) with the biases as its
    last column; and the images per block, whose columns fill about ``COLUMN_BLOCK_BYTES`` (at
    least one image, at most all of them).
    """
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, w.shape[2:], axis=(2, 3)).transpose(1, 4, 5, 0, 2, 3)
    w_rows = np.concatenate([w.reshape(len(w), -1), b.reshape(-1, 1)], axis=1)
    image_bytes = w_rows.shape[1] * windows[0, 0, 0, 0].size * x.itemsize
    block = min(len(x), max(1, COLUMN_BLOCK_BYTES // image_bytes))
    return windows, w_rows, block


def fill_columns(cols: np.ndarray, windows: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Copy the windows of images start:stop into ``cols`` (C*kh*kw + 1, B, H_out, W_out).

    Image i's windows go to ``cols[:-1, i - start]``; the last row is all ones (the "bias
    trick": it multiplies the biases). Returns the filled part as (C*kh*kw + 1, (stop-start)*L).
    """
    used = cols[:, : stop - start]
    np.copyto(used[:-1].reshape(windows.shape[:3] + used.shape[1:]), windows[:, :, :, start:stop])
    used[-1] = 1
    return used.reshape(len(cols), -1)


def multiply(w_rows: np.ndarray, cols: np.ndarray, result: np.ndarray) -> np.ndarray:
    """The block's GEMM: (K, C*kh*kw + 1) @ (C*kh*kw + 1, B'*L) into ``result`` (K, B, H_out, W_out).

    Returns the part written, (K, B', H_out, W_out): the last block may hold fewer images.
    """
    used = result[:, : cols.shape[1] // result[0, 0].size]
    np.matmul(w_rows, cols, out=used.reshape(len(result), -1))
    return used


def conv2d_blocked(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> np.ndarray:
    """im2col tuned for speed: a cache-sized block of images at a time, side by side in ONE multiply.

    For a block of B images, their windows are copied into one (C*kh*kw + 1, B, H_out, W_out)
    column buffer, images side by side in the order the multiply reads them, so that viewing it
    as a (C*kh*kw + 1, B*L) matrix copies nothing; its last row is all ones, and the filter
    matrix (K, C*kh*kw + 1) has the biases as its last column, so the one multiply adds them
    too. The (K, B, H_out, W_out) product goes into a result buffer, and from there into the
    output in NCHW order. Both buffers are made once and reused by every block.
    (PyTorch's own im2col convolution on the CPU goes one image at a time.)
    Stride 1. x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    windows, w_rows, block = blocked_operands(x, w, b, padding)
    n_images, k, (h_out, w_out) = len(x), len(w), windows.shape[4:]
    cols = np.empty((w_rows.shape[1], block, h_out, w_out), dtype=x.dtype)
    result = np.empty((k, block, h_out, w_out), dtype=x.dtype)
    out = np.empty((n_images, k, h_out, w_out), dtype=x.dtype)
    for start in range(0, n_images, block):
        stop = min(start + block, n_images)
        product = multiply(w_rows, fill_columns(cols, windows, start, stop), result)
        np.copyto(out[start:stop], product.transpose(1, 0, 2, 3))
    return out


def gemm_alone(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int) -> Callable[[], None]:
    """conv2d_blocked's multiplies and nothing else: the yardstick of its time.

    Builds, untimed, every block of columns exactly as conv2d_blocked does (same shapes, same
    buffers' layout), and returns a call that runs the same ``multiply`` into one reused
    (K, B, H_out, W_out) result buffer, block after block.
    """
    windows, w_rows, block = blocked_operands(x, w, b, padding)
    n_images, shape = len(x), (w_rows.shape[1], block, *windows.shape[4:])
    blocks = [
        fill_columns(np.empty(shape, dtype=x.dtype), windows, start, min(start + block, n_images))
        for start in range(0, n_images, block)
    ]
    result = np.empty((len(w), *shape[1:]), dtype=x.dtype)

    def multiplies() -> None:
        for cols in blocks:
            multiply(w_rows, cols, result)

    return multiplies


def peak_bytes(function: Callable[[], object]) -> int:
    """Bytes that ``function()`` holds at its peak, temporaries too (NumPy's; not PyTorch's)."""
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def benchmark(
    functions: dict[str, Callable[[], object]], repeats: int, number: int, baselines: dict[str, str]
) -> pd.DataFrame:
    """Time each function (name -> callable taking no argument) with ``torch.utils.benchmark``.

    After a warm-up call each, ``repeats`` rounds time a block of ``number`` calls of every
    function in turn (``Timer.timeit``), so that a slow spell of the machine hits them all. One
    row per function: the median and fastest time of a call, in ms, and for each item
    ``column: baseline`` of ``baselines`` a column, the median over the rounds of the function's
    time divided by the baseline function's in the same round.
    """
    from torch.utils.benchmark import Timer  # after utils, which quiets its warning about CUDA

    timers = {
        name: Timer("f()", globals={"f": f}, num_threads=torch.get_num_threads())
        for name, f in functions.items()
    }
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, timer in timers.items():
            times[name].append(timer.timeit(number).mean * 1e3)
    rows = [{"name": name, "median_ms": np.median(t), "min_ms": np.min(t)} for name, t in times.items()]
    table = pd.DataFrame(rows).set_index("name")
    for column, baseline in baselines.items():
        table[column] = [np.median(np.divide(t, times[baseline])) for t in times.values()]
    return table


@dataclass(frozen=True)
class Case:
    """One convolution to time: input x (N, C, H, W), filters w (K, C, kh, kw), padding."""

    name: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    padding: int
    blocks_of: int  # calls per timed block, so that a block lasts long enough to time well

    @property
    def label(self) -> str:
        n, c, h, w = self.x_shape
        k, _, kh, kw = self.w_shape
        return f"{self.name}: x {n}x{c}x{h}x{w}, w {k}x{c}x{kh}x{kw}, pad {self.padding}"

    def output_shape(self) -> tuple[int, int, int, int]:
        n, _, h, w = self.x_shape
        k, _, kh, kw = self.w_shape
        h_out, w_out = utils.conv_output_size((h, w), (kh, kw), padding=self.padding)
        return n, k, h_out, w_out

    def flops(self) -> int:
        """Multiplies and adds of the convolution: 2 per filter weight per output value."""
        _, c, kh, kw = self.w_shape
        return 2 * int(np.prod(self.output_shape())) * c * kh * kw

    def im2col_bytes(self, itemsize: int) -> int:
        """Size of the column matrix (N, C*kh*kw, L) plus the output (N, K, H_out, W_out)."""
        n, k, h_out, w_out = self.output_shape()
        _, c, kh, kw = self.w_shape
        return (n * c * kh * kw * h_out * w_out + n * k * h_out * w_out) * itemsize


CASES = (
    Case("a", (1, 3, 32, 32), (1, 3, 5, 5), padding=0, blocks_of=20),  # notebook 04's nn.Conv2d(3, 1, 5)
    Case("b", (32, 3, 32, 32), (16, 3, 5, 5), padding=2, blocks_of=5),
    Case("c", (128, 16, 32, 32), (32, 16, 3, 3), padding=1, blocks_of=1),
)
COLUMNS = [
    "implementation",
    "case",
    "median_ms",
    "min_ms",
    "gflop_s",
    "x_gemm",
    "x_gemm_min",
    "x_conv2d",
    "x_conv2d_min",
    "peak_MB",
    "cols_out_MB",
]
GEMM = "GEMM alone (prebuilt columns)"
UNFOLD = "nn.Unfold docs: unfold+matmul+view"
QUICK_BATCH = 4  # --quick cuts every batch to at most this many images
NAIVE_CASES = ("a",)  # conv2d_naive loops in Python: a tiny case is enough to see how slow


def unfold_matmul_view(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int) -> torch.Tensor:
    """The convolution of PyTorch's ``nn.Unfold`` documentation: ``unfold``, a matmul between
    transposes, ``view``. Notebook 04 checks it against its own ``W @ cols``.

    Notebook 04 adds its bias ``b`` as it is, which broadcasts correctly only for one filter;
    ``b.view(1, -1, 1)`` adds one bias per filter for any number of them.
    """
    n, _, h, width = x.shape
    k, _, kh, kw = w.shape
    h_out, w_out = utils.conv_output_size((h, width), (kh, kw), padding=padding)
    inp_unf = F.unfold(x, (kh, kw), padding=padding)
    out_unf = inp_unf.transpose(1, 2).matmul(w.view(k, -1).t()).transpose(1, 2) + b.view(1, -1, 1)
    return out_unf.view(n, k, h_out, w_out)


def implementations(case: Case) -> dict[str, tuple[Callable[[], object], bool]]:
    """name -> (call on the case's float32 inputs, whether tracemalloc sees its memory)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape, dtype=np.float32)
    w = rng.standard_normal(case.w_shape, dtype=np.float32)
    b = rng.standard_normal(case.w_shape[0], dtype=np.float32)
    xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    pad = case.padding
    found = {}
    if case.name in NAIVE_CASES:
        found["utils.conv2d_naive"] = (lambda: utils.conv2d_naive(x, w, b, padding=pad), True)
    found["utils.conv2d_im2col"] = (lambda: utils.conv2d_im2col(x, w, b, padding=pad), True)
    found["conv2d_blocked"] = (lambda: conv2d_blocked(x, w, b, padding=pad), True)
    found[GEMM] = (gemm_alone(x, w, b, pad), False)  # its memory is the columns, built beforehand
    found[UNFOLD] = (lambda: unfold_matmul_view(xt, wt, bt, pad), False)
    found["F.conv2d"] = (lambda: F.conv2d(xt, wt, bt, padding=pad), False)
    return found


def run_case(case: Case, repeats: int, quick: bool) -> pd.DataFrame:
    """Check every implementation against F.conv2d, then time it and measure its memory.

    ``quick`` times single calls on at most ``QUICK_BATCH`` images: a check that all works.
    """
    found = implementations(case)
    expected = np.asarray(found["F.conv2d"][0]())
    for name, (function, _) in found.items():
        if name == GEMM:  # returns nothing: its products are checked through conv2d_blocked's
            continue
        got = np.asarray(function())
        if got.shape != expected.shape or np.abs(got - expected).max() > 1e-4 * np.abs(expected).max():
            raise AssertionError(f"{name} disagrees with F.conv2d on case {case.label}")
    number = 1 if quick else case.blocks_of
    functions = {name: f for name, (f, _) in found.items()}
    baselines = {"x_gemm": GEMM, "x_conv2d": "F.conv2d"}
    table = benchmark(functions, repeats=repeats, number=number, baselines=baselines)
    table["gflop_s"] = case.flops() / (table["median_ms"] * 1e-3) / 1e9
    table["x_gemm_min"] = table["min_ms"] / table.loc[GEMM, "min_ms"]
    table["x_conv2d_min"] = table["min_ms"] / table.loc["F.conv2d", "min_ms"]
    table["peak_MB"] = [peak_bytes(f) / 1e6 if seen else np.nan for f, seen in found.values()]
    table["cols_out_MB"] = case.im2col_bytes(np.dtype(np.float32).itemsize) / 1e6
    table.insert(0, "case", case.name)
    return table.rename_axis("implementation").reset_index()[COLUMNS]


def check_targets(table: pd.DataFrame) -> list[str]:
    """One line per target case: does conv2d_blocked meet its time and memory targets?"""
    lines = []
    for name in TARGET_CASES:
        row = table[(table["case"] == name) & (table["implementation"] == "conv2d_blocked")].iloc[0]
        times = max(row["x_gemm"], row["x_gemm_min"])
        memory = row["peak_MB"] / row["cols_out_MB"]
        lines.append(
            f"  case {name}: time {row['x_gemm']:.2f}x its GEMM alone, fastest {row['x_gemm_min']:.2f}x "
            f"(target <= {TIME_TARGET:g}x: {'met' if times <= TIME_TARGET else 'NOT met'}; "
            f"F.conv2d for information: {row['x_conv2d']:.2f}x); peak extra memory "
            f"{row['peak_MB']:.1f} MB = {memory:.2f}x column matrix + output ({row['cols_out_MB']:.1f} MB) "
            f"(target <= {MEMORY_TARGET:g}x: {'met' if memory <= MEMORY_TARGET else 'NOT met'})"
        )
    return lines


def plot(table: pd.DataFrame, path: Path, title: str) -> None:
    """Two panels: time as a multiple of the bare GEMM's, and peak memory of the NumPy versions."""
    utils.use_series_style()
    names = list(dict.fromkeys(table["implementation"]))
    colors = dict(zip(names, sns.color_palette("colorblind", len(names)), strict=True))
    fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    sns.barplot(table, x="case", y="x_gemm", hue="implementation", palette=colors, ax=ax_time)
    ax_time.set_yscale("log")
    ax_time.axhline(TIME_TARGET, color="crimson", linestyle="--")
    ax_time.set_title(f"Time per call / the GEMM's alone (dashed: target {TIME_TARGET:g}x)")
    ax_time.set_xlabel("case")
    ax_time.set_ylabel("median time / GEMM alone (log scale)")
    seen = table.dropna(subset=["peak_MB"]).assign(ratio=lambda t: t["peak_MB"] / t["cols_out_MB"])
    sns.barplot(seen, x="case", y="ratio", hue="implementation", palette=colors, ax=ax_memory)
    ax_memory.axhline(MEMORY_TARGET, color="crimson", linestyle="--")
    ax_memory.set_title(f"Peak extra memory, NumPy only (dashed: target {MEMORY_TARGET:g}x)")
    ax_memory.set_xlabel("case")
    ax_memory.set_ylabel("peak / (column matrix + output)")
    handles, labels = ax_time.get_legend_handles_labels()
    for ax in (ax_time, ax_memory):
        ax.get_legend().remove()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds, single calls, batches of 4")
    parser.add_argument("--repeats", type=int, help="rounds of alternating blocks (default 40, quick 3)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench", help="folder for CSV and PNG")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 40)

    print(
        f"float32, {repeats} rounds{' (quick: single calls)' if args.quick else ''}; "
        f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  idle threads: OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
        f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']}"
    )
    cases = CASES
    if args.quick:
        cases = [replace(c, x_shape=(min(c.x_shape[0], QUICK_BATCH), *c.x_shape[1:])) for c in CASES]
    for case in cases:
        print(f"  {case.label}, {case.flops() / 1e6:.1f} MFLOP")
    table = pd.concat([run_case(case, repeats, args.quick) for case in cases], ignore_index=True)
    with pd.option_context("display.width", 200, "display.float_format", "{:.2f}".format):
        print(table.to_string(index=False, na_rep="n/a"))
    print("peak_MB: n/a for PyTorch, whose memory tracemalloc does not see.")
    caveat = " (quick mode: small batches, few rounds: NOT the targets' measurement)" if args.quick else ""
    print(f"Targets of conv2d_blocked{caveat}:")
    print("\n".join(check_targets(table)))
    print(f"Load average at the end: {os.getloadavg()[0]:.1f}")

    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "bench_conv.csv", index=False)
    plot(table, args.out / "bench_conv.png", f"float32, median of {repeats} rounds{caveat}")
    print(f"Wrote {args.out / 'bench_conv.csv'} and {args.out / 'bench_conv.png'}")
    return table


if __name__ == "__main__":
    main()

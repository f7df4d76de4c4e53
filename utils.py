"""Helpers shared by the notebooks of the convolution series.

Read this file next to the notebooks: every function is short on purpose.

Conventions (the same as PyTorch):
- images are NumPy arrays in NCHW order: (N, C, H, W) = (batch, channels, height, width);
- filters (weights) are (K, C, kh, kw): K filters, each with C channels of size kh x kw;
- ``kernel_size``, ``stride``, ``padding`` and ``dilation`` take an int (the same for height
  and width) or an ``(h, w)`` pair;
- bad input raises ``ValueError`` with a message that names the parameter and the rule.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython import get_ipython
from IPython.core.pylabtools import print_figure
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

if TYPE_CHECKING:
    from torchvision import transforms

IntOrPair = int | tuple[int, int]

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_PATH = DATA_DIR / "cifar10_test_first20.npz"
SAMPLE_SHA256 = "9d1252b7fd56a5a1bda60bc60054630a2ce185f345d8c449d1bec07036111050"
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_MEAN = (0.5, 0.5, 0.5)
CIFAR10_STD = (0.5, 0.5, 0.5)
# conv2d_im2col builds its column matrix in blocks of about this size: 2 MiB stays in the
# cache of most processors (L2 or L3), so the matrix multiply reads what was just written.
COLUMN_BLOCK_BYTES = 2 * 2**20


# --- Checking arguments ---------------------------------------------------------------------


def _as_int(value: object, name: str) -> int:
    """Return ``value`` if it is a true integer (not a bool, not a float), else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
    return int(value)


def _pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """Turn an int or an (h, w) pair into a checked (h, w) pair of ints >= ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        pair = (_as_int(value[0], name), _as_int(value[1], name))
    else:
        pair = (_as_int(value, name),) * 2
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _output_pair(
    size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair,
    padding: IntOrPair,
    dilation: IntOrPair,
) -> tuple[int, int]:
    """Checked output (height, width) of a convolution; see ``conv_output_size``."""
    size2 = _pair(size, "size", 1)
    kernel2 = _pair(kernel_size, "kernel_size", 1)
    stride2 = _pair(stride, "stride", 1)
    padding2 = _pair(padding, "padding", 0)
    dilation2 = _pair(dilation, "dilation", 1)
    out = []
    for n, k, s, p, d in zip(size2, kernel2, stride2, padding2, dilation2, strict=True):
        span = d * (k - 1) + 1  # how many input cells one (dilated) window covers
        if span > n + 2 * p:
            raise ValueError(
                f"kernel_size: the dilated kernel spans dilation*(kernel_size-1)+1 = {span} "
                f"cells, more than the padded input size+2*padding = {n + 2 * p}"
            )
        out.append((n + 2 * p - span) // s + 1)
    return out[0], out[1]


def _conv_inputs(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check the shapes of an input batch, its filters and their biases; return them as arrays.

    x and w come back in one dtype, NumPy's rule for the two (float32 and float64 give
    float64): a float32 @ float64 multiply would first copy the float32 side.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> the same three
    """
    x, w = np.asarray(x), np.asarray(w)
    b = None if b is None else np.asarray(b)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must be 4-D (K, C, kh, kw), got shape {w.shape}")
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"w has {w.shape[1]} channels but x has {x.shape[1]}: w.shape[1] must equal x.shape[1]"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape (K,) = ({w.shape[0]},), one bias per filter, got {b.shape}")
    dtype = np.result_type(x, w)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), b


# --- Convolution arithmetic -----------------------------------------------------------------


def conv_output_size(
    size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> IntOrPair:
    """Output size of a convolution, with PyTorch's ``nn.Conv2d`` formula.

    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``

    Every argument is an int or an (h, w) pair. The result is an int when all of them are
    ints, else an (h_out, w_out) pair. Example: ``conv_output_size(32, 5) == 28``.
    """
    out = _output_pair(size, kernel_size, stride, padding, dilation)
    scalar = not any(isinstance(a, (tuple, list)) for a in (size, kernel_size, stride, padding, dilation))
    return out[0] if scalar else out


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Zero-pad the two spatial axes of x (N, C, H, W) -> (N, C, H + 2*ph, W + 2*pw).

    The same as ``np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))``, with less overhead: an
    array of zeros with x copied into its middle. Without padding, x itself comes back.
    """
    ph, pw = padding
    if ph == pw == 0:
        return x
    n_images, channels, height, width = x.shape
    x_pad = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=x.dtype)
    x_pad[:, :, ph : ph + height, pw : pw + width] = x
    return x_pad


def conv2d_naive(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Convolution by its definition, one output value at a time (slow; for checking).

    Each output value is the sum of (window of the padded input) * (filter), plus the bias.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    x, w, b = _conv_inputs(x, w, b)
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    h_out, w_out = _output_pair((height, width), (kh, kw), stride, padding, dilation)
    sh, sw = _pair(stride, "stride", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    x_pad = _pad(x, _pair(padding, "padding", 0))

    out = np.zeros((n_images, n_filters, h_out, w_out), dtype=x.dtype)
    for n in range(n_images):
        for k in range(n_filters):
            for i in range(h_out):
                for j in range(w_out):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)  # kh rows under the filter
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)  # kw columns
                    window = x_pad[n, :, rows, cols]  # (C, kh, kw), the same shape as w[k]
                    out[n, k, i, j] = np.sum(window * w[k])
            if b is not None:
                out[n, k] += b[k]
    return out


def _windows(
    x: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair,
    padding: IntOrPair,
    dilation: IntOrPair,
) -> np.ndarray:
    """Every window of x as a read-only view, nothing copied but the padding.

    ``windows[n, c, i, j, p, q]`` is the input cell that the filter weight ``w[:, c, p, q]``
    meets at output position (i, j) of image n. ``sliding_window_view`` gives every window
    of the dilated span; slicing keeps every stride-th window and every dilation-th cell.

    x (N, C, H, W) -> (N, C, H_out, W_out, kh, kw)
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    _output_pair(x.shape[2:], (kh, kw), stride, padding, dilation)  # checks every argument
    sh, sw = _pair(stride, "stride", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    x_pad = _pad(x, _pair(padding, "padding", 0))
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    return sliding_window_view(x_pad, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]


def im2col(
    x: np.ndarray,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Unfold every window of x into one column, in the order of ``torch.nn.functional.unfold``.

    Row ``c*kh*kw + p*kw + q`` holds channel c at kernel offset (p, q); column ``i*W_out + j``
    holds the window of output position (i, j).

    x (N, C, H, W) -> (N, C*kh*kw, L) with L = H_out * W_out
    """
    windows = _windows(x, kernel_size, stride, padding, dilation)  # (N, C, H_out, W_out, kh, kw)
    n_images, channels, h_out, w_out, kh, kw = windows.shape
    # The one copy: kernel offsets (p, q) before positions (i, j), as unfold orders them.
    cols = windows.transpose(0, 1, 4, 5, 2, 3).copy()  # (N, C, kh, kw, H_out, W_out)
    return cols.reshape(n_images, channels * kh * kw, h_out * w_out)


def _side_by_side(windows: np.ndarray) -> np.ndarray:
    """The columns of ``im2col`` with the images side by side: one (C*kh*kw, N*L) matrix.

    Column ``n*L + l`` is column l of image n in ``im2col(x)``: the same numbers, with the
    batch axis moved last, so that a single matrix multiply covers every image.

    windows (N, C, H_out, W_out, kh, kw), from ``_windows`` -> (C*kh*kw, N*L) with L = H_out * W_out
    """
    n_images, channels, h_out, w_out, kh, kw = windows.shape
    cols = windows.transpose(1, 4, 5, 0, 2, 3).copy()  # (C, kh, kw, N, H_out, W_out)
    return cols.reshape(channels * kh * kw, n_images * h_out * w_out)


def _to_nchw(result: np.ndarray, b: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """Write a batch-last result into ``out`` in NCHW order, adding the biases on the way.

    result (K, N, H_out, W_out), b (K,), out (N, K, H_out, W_out) -> out
    """
    bias = 0 if b is None else b.astype(result.dtype, copy=False).reshape(1, -1, 1, 1)
    return np.add(result.transpose(1, 0, 2, 3), bias, out=out)


def conv2d_im2col(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Convolution as im2col, then one matrix multiply, then a reshape, a block of images at a time.

    For a block of images, ``_side_by_side`` copies their windows into one (C*kh*kw, B*L)
    column matrix; ONE matrix multiply by the (K, C*kh*kw) filter matrix computes all their
    output values; a reshape puts the (K, B*L) result in (B, K, H_out, W_out) order, with the
    biases added. A block holds about ``COLUMN_BLOCK_BYTES`` of columns: small enough to stay
    in the processor's cache from the moment they are written until the multiply reads them,
    large enough for one efficient multiply. (PyTorch's own im2col convolution on the CPU goes
    one image at a time.) Memory: the padded input, the output and one block's columns.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    x, w, b = _conv_inputs(x, w, b)
    dtype = x.dtype  # w's too
    n_images = x.shape[0]
    n_filters, _, kh, kw = w.shape
    windows = _windows(x, (kh, kw), stride, padding, dilation)  # (N, C, H_out, W_out, kh, kw)
    h_out, w_out = windows.shape[2:4]
    w_rows = w.reshape(n_filters, -1)  # (K, C*kh*kw)
    image_bytes = w_rows.shape[1] * h_out * w_out * dtype.itemsize  # one image's columns
    block = max(1, COLUMN_BLOCK_BYTES // image_bytes)  # images per block

    out = np.empty((n_images, n_filters, h_out, w_out), dtype=dtype)
    for start in range(0, n_images, block):
        cols = _side_by_side(windows[start : start + block])  # (C*kh*kw, B*L)
        result = w_rows @ cols  # (K, C*kh*kw) @ (C*kh*kw, B*L) -> (K, B*L)
        del cols  # freed before the next block builds its own: one block of columns at a time
        _to_nchw(result.reshape(n_filters, -1, h_out, w_out), b, out[start : start + block])
    return out


def conv2d_per_offset(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Convolution as a sum of kh*kw small matrix multiplies, one per kernel offset (p, q).

    For each offset, the input cells that the weights w[:, :, p, q] meet form a (C, N*L)
    matrix (images side by side, as in ``conv2d_im2col``), and the (K, C) matrix
    w[:, :, p, q] turns it into a (K, N*L) term of the output. The sum of the kh*kw terms
    is the convolution, without the column matrix that is kh*kw times the size of x:
    memory stays near x plus twice the output, at the price of kh*kw thinner multiplies.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    x, w, b = _conv_inputs(x, w, b)
    dtype = x.dtype  # w's too
    n_images, channels = x.shape[:2]
    n_filters, _, kh, kw = w.shape
    windows = _windows(x, (kh, kw), stride, padding, dilation)  # (N, C, H_out, W_out, kh, kw)
    h_out, w_out = windows.shape[2:4]

    out = np.zeros((n_filters, n_images * h_out * w_out), dtype=dtype)
    for p in range(kh):
        for q in range(kw):
            # The cells under w[:, :, p, q]; the reshape copies them (the size of x).
            cells = windows[:, :, :, :, p, q].transpose(1, 0, 2, 3).reshape(channels, -1)  # (C, N*L)
            out += w[:, :, p, q] @ cells  # (K, C) @ (C, N*L) -> (K, N*L)
    nchw = np.empty((n_images, n_filters, h_out, w_out), dtype=dtype)
    return _to_nchw(out.reshape(n_filters, n_images, h_out, w_out), b, nchw)


# --- The backward pass ------------------------------------------------------------------------


def col2im(
    cols: np.ndarray,
    input_size: IntOrPair,
    kernel_size: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> np.ndarray:
    """Fold columns back into an image, adding where windows overlap: the adjoint of ``im2col``.

    Every value of column ``i*W_out + j`` goes back to the input pixel that ``im2col`` read it
    from and is *added* there, so a pixel covered by several windows gets the sum of all its
    copies (and a pixel no window covers gets 0). The same as
    ``torch.nn.functional.fold(cols, output_size=input_size, ...)``.

    cols (N, C*kh*kw, L) -> (N, C, H, W), with (H, W) = input_size and L = H_out * W_out
    """
    cols = np.asarray(cols)
    if cols.ndim != 3:
        raise ValueError(f"cols must be 3-D (N, C*kh*kw, L), got shape {cols.shape}")
    height, width = _pair(input_size, "input_size", 1)
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    h_out, w_out = _output_pair((height, width), (kh, kw), stride, padding, dilation)
    sh, sw = _pair(stride, "stride", 1)
    dh, dw = _pair(dilation, "dilation", 1)
    ph, pw = _pair(padding, "padding", 0)
    n_images, n_rows, length = cols.shape
    if n_rows == 0 or n_rows % (kh * kw) != 0:
        raise ValueError(
            f"cols.shape[1] must be C*kh*kw, a positive multiple of kh*kw = {kh * kw}, got {n_rows}"
        )
    if length != h_out * w_out:
        raise ValueError(
            f"cols.shape[2] must be L = H_out*W_out = {h_out}*{w_out} = {h_out * w_out} for "
            f"input_size {(height, width)} and this kernel, stride, padding, dilation; got {length}"
        )
    channels = n_rows // (kh * kw)

    # One strided add per kernel offset (p, q), the mirror image of im2col's strided slice.
    cols = cols.reshape(n_images, channels, kh, kw, h_out, w_out)
    x_pad = np.zeros((n_images, channels, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            rows = slice(p * dh, p * dh + sh * (h_out - 1) + 1, sh)  # h_out rows that offset p meets
            columns = slice(q * dw, q * dw + sw * (w_out - 1) + 1, sw)  # w_out columns
            x_pad[:, :, rows, columns] += cols[:, :, p, q]  # add, do not copy: windows overlap
    return x_pad[:, :, ph : ph + height, pw : pw + width]  # the padding was never part of x


# --- CIFAR-10 ---------------------------------------------------------------------------------


def cifar10_transform(normalize: bool = True) -> transforms.Compose:
    """The seed post's pre-processing: ``ToTensor()``, then optionally ``Normalize``.

    ``ToTensor`` turns a (32, 32, 3) uint8 image into a (3, 32, 32) float tensor in [0, 1];
    ``Normalize`` with mean 0.5 and std 0.5 maps that to [-1, 1].
    """
    from torchvision import transforms  # here, not at the top: importing torchvision takes seconds

    steps = [transforms.ToTensor()]
    if normalize:
        steps.append(transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD))
    return transforms.Compose(steps)


def unnormalize(
    image: torch.Tensor,
    mean: tuple[float, ...] = CIFAR10_MEAN,
    std: tuple[float, ...] = CIFAR10_STD,
) -> np.ndarray:
    """Undo ``Normalize(mean, std)`` and turn a (C, H, W) tensor into an (H, W, C) array.

    The result is clipped to [0, 1], ready for ``plt.imshow``. Pass ``mean=(0, 0, 0)`` and
    ``std=(1, 1, 1)`` for an image that was never normalised.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D (C, H, W), got shape {tuple(image.shape)}")
    mean_t = torch.tensor(mean).view(-1, 1, 1)
    std_t = torch.tensor(std).view(-1, 1, 1)
    return (image.detach().cpu() * std_t + mean_t).clamp(0, 1).permute(1, 2, 0).numpy()


class CIFAR10Sample(torch.utils.data.Dataset):
    """The first images of the CIFAR-10 test set, bundled in ``data/`` for offline use.

    It behaves like ``torchvision.datasets.CIFAR10``: ``data`` is (N, 32, 32, 3) uint8,
    ``targets`` a list of labels, ``classes`` the class names, and indexing returns
    ``(transform(PIL image), label)``.
    """

    def __init__(self, path: Path = SAMPLE_PATH, transform=None) -> None:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest != SAMPLE_SHA256:
            raise ValueError(
                f"{path} is corrupted: its SHA-256 is {digest}, expected {SAMPLE_SHA256}. "
                "Restore it with `git checkout data/` or rebuild it (see data/README.md)."
            )
        with np.load(path, allow_pickle=False) as arrays:
            self.data = arrays["images"]
            self.targets = arrays["labels"].tolist()
        self.classes = list(CIFAR10_CLASSES)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[object, int]:
        image = Image.fromarray(self.data[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]


def _reachable(url: str, timeout: float) -> bool:
    """True if a TCP connection to the host of ``url`` opens within ``timeout`` seconds.

    The name lookup runs in a thread, because ``socket`` gives it no timeout of its own.
    """
    host = urlparse(url).hostname
    result: list[bool] = []

    def connect() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result) and result[0]


def load_cifar10_test(
    transform=None,
    root: Path = DATA_DIR,
    download: bool = True,
    timeout: float = 1.5,
) -> torch.utils.data.Dataset:
    """The CIFAR-10 test set: the full 10,000 images if possible, else the 20 bundled ones.

    Uses, in this order: the full set already in ``root``; the full set downloaded into
    ``root`` (if ``download`` and the server answers within ``timeout`` seconds); the first
    20 test images bundled in ``data/``. Prints one line saying which. ``transform`` is
    applied to each PIL image, as in ``torchvision.datasets.CIFAR10``.

    While nbgrader grades (it sets ``NBGRADER_EXECUTION``) nothing is downloaded: every
    submission is graded on the same images, without a 160 MB download per student.
    """
    from torchvision.datasets import CIFAR10  # here, not at the top: importing torchvision takes seconds

    grading = bool(os.environ.get("NBGRADER_EXECUTION"))
    try:
        dataset = CIFAR10(root, train=False, download=False, transform=transform)
        print(f"Using the full CIFAR-10 test set ({len(dataset)} images) found in {root}.")
        return dataset
    except RuntimeError:
        pass
    if download and not grading and _reachable(CIFAR10.url, timeout):
        try:
            dataset = CIFAR10(root, train=False, download=True, transform=transform)
            print(f"Using the full CIFAR-10 test set ({len(dataset)} images), downloaded to {root}.")
            return dataset
        except (OSError, RuntimeError) as error:
            print(f"Download failed ({error}).")
    dataset = CIFAR10Sample(transform=transform)
    why = "nbgrader does not download while it grades" if grading else "could not be downloaded"
    print(
        f"Using the {len(dataset)} CIFAR-10 test images bundled in {SAMPLE_PATH.name} "
        f"(the full set is not on disk and {why})."
    )
    return dataset


# --- Plots and timings ------------------------------------------------------------------------


def use_series_style() -> None:
    """One look for every figure of the series (call it once, at the top of a notebook).

    In a notebook, every figure shown also carries a description made of its own titles and
    axis labels (``_describe_figure``): the static site gives it to readers who cannot see it.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 80, "axes.titleweight": "bold", "image.cmap": "viridis"})
    shell = get_ipython()
    if shell is not None:
        # Load the notebook's plotting backend now: loading sets IPython's figure formatter.
        plt.switch_backend(plt.get_backend())
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png_with_description)


def _describe_figure(fig: Figure) -> str:
    """What a figure shows, in its own words: its suptitle, then each panel's title and labels.

    ``"Input x, zero-padded. Panels: channel 0; channel 1 (x: column, y: row)."``; ``""`` for
    a figure without any title or label.
    """
    panels = []
    for ax in fig.axes:
        named = (("x", ax.get_xlabel()), ("y", ax.get_ylabel()))
        labels = [f"{axis}: {text}" for axis, text in named if text]
        title = "colour bar" if ax.get_label() == "<colorbar>" else ax.get_title()
        panel = " ".join([title] + ([f"({', '.join(labels)})"] if labels else [])).strip()
        if panel:
            panels.append(panel)
    panels = [" ".join(panel.split()) for panel in panels]  # titles on two lines read as one
    suptitle = " ".join(fig.get_suptitle().split())
    if not suptitle:
        return "; ".join(panels) + "." if panels else ""
    if not panels:
        return f"{suptitle}."
    return f"{suptitle}. Panel{'s' if len(panels) > 1 else ''}: {'; '.join(panels)}."


def _png_with_description(fig: Figure) -> tuple[str, dict[str, str]]:
    """The figure as IPython shows it (a PNG, base64), with its description as ``alt``."""
    return print_figure(fig, fmt="png", bbox_inches="tight", base64=True), {"alt": _describe_figure(fig)}


def plot_grid(
    values: np.ndarray,
    ax: plt.Axes,
    title: str,
    fmt: str = ".0f",
    cmap: str = "Blues",
    box: tuple[int, int, int, int] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> plt.Axes:
    """Draw a 2-D array (H, W) as a heatmap with every value written in its cell.

    ``box = (top, left, height, width)`` outlines a window, e.g. the one under a filter.
    ``vmin`` and ``vmax`` fix the colour scale, so that several grids (or the frames of an
    animation) give the same value the same colour; NaN cells are left blank.
    Rows and columns are labelled with their indices.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (H, W), got shape {values.shape}")
    n_rows, n_cols = values.shape
    # Plain matplotlib, not sns.heatmap: seaborn redraws the whole figure for every heatmap,
    # which makes figures (and animations) of many grids slow.
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values.astype(float)),  # NaN cells stay blank
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        edgecolors="white",
        linewidth=0.5,
    )
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            red, green, blue, _ = mesh.cmap(mesh.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # white text on dark cells
            color = "white" if dark else "0.15"
            ax.text(col + 0.5, row + 0.5, format(value, fmt), ha="center", va="center", color=color)
    ax.set_aspect("equal")
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)  # row 0 at the top, as in the array
    ax.set_xticks(np.arange(n_cols) + 0.5, range(n_cols))
    ax.set_yticks(np.arange(n_rows) + 0.5, range(n_rows))
    ax.grid(False)
    ax.set_title(title, y=1.0)  # a fixed height: matplotlib's automatic one is slow to work out
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if box is not None:
        top, left, height, width = box
        ax.add_patch(Rectangle((left, top), width, height, fill=False, edgecolor="crimson", linewidth=3))
    return ax


def benchmark(
    functions: dict[str, Callable[[], object]],
    repeats: int = 5,
    number: int = 1,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Time each function of ``functions`` (name -> callable taking no argument).

    Every function runs once to warm up; then ``repeats`` rounds call each function
    ``number`` times in a row, in turn. The functions alternate in blocks, so none is timed
    only on a cold start and a slow spell of a shared machine hits them all alike; ``number``
    > 1 keeps a block long enough for very fast functions. Returns one row per function with
    the median and the fastest time of one call (a block's mean), in milliseconds. With
    ``baseline`` (one of the names), a ``ratio`` column adds the median over the rounds of
    each function's time divided by the baseline's time in the same round.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError(f"number must be an integer >= 1, got {number!r}")
    if baseline is not None and baseline not in functions:
        raise ValueError(f"baseline must be one of the names {list(functions)}, got {baseline!r}")
    for function in functions.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            for _ in range(number):
                function()
            times[name].append((time.perf_counter() - start) / number * 1e3)
    rows = [{"name": name, "median_ms": np.median(t), "min_ms": np.min(t)} for name, t in times.items()]
    table = pd.DataFrame(rows).set_index("name")
    if baseline is not None:
        # Round by round, so that a slow spell of the machine cancels out of the ratio.
        table["ratio"] = [np.median(np.divide(t, times[baseline])) for t in times.values()]
    return table


def peak_memory(function: Callable[[], object]) -> int:
    """Bytes of memory ``function()`` holds at its peak beyond what existed before it.

    The result counts, temporaries too. Measured with ``tracemalloc``, which sees every NumPy
    array but not PyTorch's tensors: use it on NumPy code.
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - before


# --- Exercises ---------------------------------------------------------------------------------


def check(what: str, got: object, expected: object, atol: float = 0.0) -> None:
    """Tell a student whether an answer is right: print a tick, or raise ``AssertionError``.

    Arrays and tensors are compared element by element (same shape, values within ``atol``);
    floats within ``atol``; anything else with ``==``. The message says what was expected
    and what came, e.g. ``"output height: expected 28, got 27"``.
    """
    if isinstance(expected, (np.ndarray, torch.Tensor)):
        expected = np.asarray(expected.detach() if isinstance(expected, torch.Tensor) else expected)
        wrong_type = AssertionError(f"{what}: expected an array of shape {expected.shape}, got {got!r}")
        if got is None or isinstance(got, str):
            raise wrong_type
        try:
            got = np.asarray(got.detach() if isinstance(got, torch.Tensor) else got, dtype=float)
        except (TypeError, ValueError):
            raise wrong_type from None
        if got.shape != expected.shape:
            raise AssertionError(
                f"{what}: expected an array of shape {expected.shape}, got shape {got.shape}"
            )
        worst = float(np.max(np.abs(got - expected), initial=0.0))
        if not worst <= atol:
            raise AssertionError(f"{what}: values differ from the expected ones by up to {worst:.3g}")
    elif isinstance(expected, float):
        if not isinstance(got, (int, float, np.number)) or not abs(got - expected) <= atol:
            raise AssertionError(f"{what}: expected {expected:g}, got {got!r}")
    elif got != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}")
    print(f"\N{CHECK MARK} {what}: correct")

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
import logging
import os
import re
import socket
import threading
import tracemalloc
import types
import warnings
from collections.abc import Callable, Sequence
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
            # The cells under w[:, :, p, q], C per output position; the reshape copies them.
            cells = windows[:, :, :, :, p, q].transpose(1, 0, 2, 3).reshape(channels, -1)  # (C, N*L)
            out += w[:, :, p, q] @ cells  # (K, C) @ (C, N*L) -> (K, N*L)
    nchw = np.empty((n_images, n_filters, h_out, w_out), dtype=dtype)
    return _to_nchw(out.reshape(n_filters, n_images, h_out, w_out), b, nchw)


EDGE_FILTER_NAMES = ("vertical edges (Sobel x)", "horizontal edges (Sobel y)", "all edges (Laplacian)")


def edge_filters(in_channels: int = 3) -> torch.Tensor:
    """Three classic 3x3 filters whose outputs mean something, named in ``EDGE_FILTER_NAMES``.

    Each sees the mean of the ``in_channels`` channels (its weights are split evenly over
    them) and responds to changes of brightness: left to right, top to bottom, in any direction.
    Returns weights (3, in_channels, 3, 3) for ``F.conv2d``: large outputs mark edges.
    """
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernels = torch.stack([sobel_x, sobel_x.T, laplacian])  # (3, 3, 3)
    return kernels[:, None].repeat(1, in_channels, 1, 1) / in_channels


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


# --- Warnings ------------------------------------------------------------------------------------


def first_warning(function: Callable[[], object]) -> tuple[object, str]:
    """Run ``function()``; return its result and the first line of the first warning it gave.

    The text is ``"none"`` if it gave none. PyTorch shows some warnings only once per session;
    here they are shown every time, so a notebook prints the same whenever it runs.
    """
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function()
    finally:
        torch.set_warn_always(warn_always)
    return result, str(caught[0].message).split(" (Triggered")[0] if caught else "none"


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


def animation_html(fig: plt.Figure, draw_frame: Callable[[int], object], n_frames: int, fps: int = 1) -> str:
    """A self-contained HTML player (as a string) for the frames ``draw_frame(0 .. n_frames-1)``.

    Matplotlib's player shows its buttons as Font Awesome icons loaded from the internet; here
    they become plain symbols, so the player also works offline. ``fig`` should be built with
    ``matplotlib.figure.Figure`` (not pyplot), so that no still copy of it is shown.
    """
    from matplotlib.animation import FuncAnimation

    html = FuncAnimation(fig, draw_frame, frames=n_frames).to_jshtml(fps=fps, default_mode="once")
    symbols = {
        "minus": "\u2212",
        "fast-backward": "|\u25c0\u25c0",
        "step-backward": "|\u25c0",
        "play fa-flip-horizontal": "\u25c0",
        "pause": "\u275a\u275a",
        "play": "\u25b6",
        "step-forward": "\u25b6|",
        "fast-forward": "\u25b6\u25b6|",
        "plus": "+",
    }
    for icon, symbol in symbols.items():
        html = html.replace(f'<i class="fa fa-{icon}"></i>', symbol)
    return re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", html)


def time_calls(
    functions: dict[str, Callable[[], object]], threads: int = 1, min_run_time: float = 0.2
) -> pd.DataFrame:
    """Time each function (name -> callable taking no argument) with ``torch.utils.benchmark``.

    ``Timer(...).blocked_autorange`` warms up, picks how many calls to time in a block and runs
    blocks for at least ``min_run_time`` seconds. ``threads`` pins PyTorch's threads (the
    Timer's ``num_threads``) and those of NumPy's BLAS and OpenMP (``threadpoolctl``), so that
    every function runs on the same number of cores. Returns one row per function: the median
    time of one call and the spread of the blocks (interquartile range), in milliseconds.
    """
    from threadpoolctl import threadpool_limits

    # Importing torch.utils.benchmark logs a warning about CUDA on machines without a GPU.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils.benchmark import Timer

    rows = []
    with threadpool_limits(limits=threads):
        for name, function in functions.items():
            timer = Timer("function()", globals={"function": function}, num_threads=threads)
            measurement = timer.blocked_autorange(min_run_time=min_run_time)
            rows.append(
                {"name": name, "median_ms": measurement.median * 1e3, "iqr_ms": measurement.iqr * 1e3}
            )
    return pd.DataFrame(rows).set_index("name")


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

# Methods through which an object could decide its own comparison or conversion. An answer
# whose class (outside Python, NumPy and PyTorch) defines one of them is refused by check.
_TRICKS = frozenset(
    "__eq__ __ne__ __lt__ __le__ __gt__ __ge__ __hash__ __bool__ __int__ __index__ __float__ "
    "__abs__ __sub__ __rsub__ __round__ __len__ __iter__ __getitem__ __array__ __array_ufunc__ "
    "__array_function__ __torch_function__ __torch_dispatch__ __instancecheck__ __class__".split()
)
_TRUSTED_MODULES = ("builtins", "numpy", "torch")


def _own_comparison(value: object) -> bool:
    """True if value's class, below the standard types, defines how it compares or converts."""
    for klass in type(value).__mro__:
        if klass.__module__.split(".")[0] in _TRUSTED_MODULES:
            return False
        if _TRICKS & set(vars(klass)):
            return True
    return False


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _describe(value: object) -> str:
    """What came, in words: 'None', "the string '7'", 'the float 2.5', 'an array of shape (3,)'."""
    if value is None:
        return "None (no value: does a function end without `return`, or is the name never set?)"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (bool, int, float, np.generic)):
        return f"the {type(value).__name__} {value!r}"
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {_items(len(value))}"
    return f"an object of type {type(value).__name__}"


def _number(value: object, integer: bool) -> int | float | str:
    """value as a plain int (``integer``) or float; else a sentence saying what came instead."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 0:
        value = value.item()  # a 0-d array or tensor holds one number
    if isinstance(value, np.generic):
        value = value.item()  # NumPy scalar -> the Python number
    if isinstance(value, bool):
        return f"expected {kind}, got the bool {value}"
    if isinstance(value, int):
        return int(value) if integer else float(value)
    if isinstance(value, float) and not integer:
        return float(value)
    if isinstance(value, float):
        return (
            f"expected an integer, got the float {value!r}: sizes, counts and indices are whole "
            "numbers (// divides and rounds down; int() turns a float into an int)"
        )
    return f"expected {kind}, got {_describe(value)}"


def _as_array(value: object) -> np.ndarray | str:
    """value as a float NumPy array, or a sentence saying why it cannot be one."""
    if value is None or isinstance(value, str):
        return f"expected an array, got {_describe(value)}"
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.array(value, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        return f"expected an array of numbers, got {_describe(value)}, which NumPy cannot turn into one"


def _problem(got: object, expected: object, atol: float) -> str | None:
    """What is wrong with ``got`` (a sentence that never shows ``expected``), or None if it is right."""
    if _own_comparison(got):
        return (
            f"got an object of class {type(got).__name__}, which defines its own comparison or "
            "conversion: answer with a plain value (int, float, tuple, list, array or tensor)"
        )
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)):
            return f"expected True or False, got {_describe(got)}"
        return None if bool(got) == bool(expected) else "not the right answer"
    if isinstance(expected, (int, np.integer, float, np.floating)):
        number = _number(got, integer=not isinstance(expected, (float, np.floating)))
        if isinstance(number, str):
            return number
        return None if abs(number - expected) <= atol else "not the right value"
    if isinstance(expected, (tuple, list)):
        if isinstance(got, (np.ndarray, torch.Tensor)) and got.ndim == 1:
            got = got.tolist()
        if not isinstance(got, (tuple, list)):
            return f"expected a {type(expected).__name__} of {_items(len(expected))}, got {_describe(got)}"
        if len(got) != len(expected):
            return f"expected {_items(len(expected))}, got {len(got)}"
        for index, (item, wanted) in enumerate(zip(got, expected, strict=True)):
            problem = _problem(item, wanted, atol)
            if problem is not None:
                return f"item {index} (counting from 0): {problem}"
        return None
    if isinstance(expected, (np.ndarray, torch.Tensor)):
        wanted = _as_array(expected)
        array = _as_array(got)
        if isinstance(array, str):
            return array
        if array.shape != wanted.shape:
            same_sizes = sorted(array.shape) == sorted(wanted.shape)
            order = " (the same sizes in another order: check the order of the axes)" if same_sizes else ""
            return f"expected an array of shape {wanted.shape}, got shape {array.shape}{order}"
        wrong = ~(np.abs(array - wanted) <= atol)  # NaN counts as wrong
        if not wrong.any():
            return None
        first = tuple(int(i) for i in np.argwhere(wrong)[0])
        return (
            f"{int(wrong.sum())} of {wrong.size} values are wrong (beyond a tolerance of {atol:g}); "
            f"the first at index {first}"
        )
    if isinstance(expected, str):
        if not isinstance(got, str):
            return f"expected a string, got {_describe(got)}"
        return None if got == expected else "not the right answer"
    raise TypeError(f"expected: check compares numbers, tuples, lists, arrays and strings, got {expected!r}")


def check(
    what: str,
    got: object,
    expected: object,
    atol: float = 0.0,
    hint: str = "",
    mistakes: Sequence[tuple[object, str]] = (),
) -> None:
    """Tell a student whether an answer is right: print a tick, or raise ``AssertionError``.

    The message says what is wrong and where to look, never the expected value. What
    ``expected`` is decides what counts as an answer:

    - an int: an int, a NumPy integer or a 0-d integer array or tensor (not a float, not a bool);
    - a float: any real number (NumPy and 0-d tensors too), right within ``atol``;
    - a tuple or list: a tuple, list, ``torch.Size`` or 1-d array of as many items, each
      checked by these rules (a list for a tuple of ints is fine);
    - an array or tensor: anything NumPy turns into a float array of the same shape, every
      value within ``atol`` (float32 for float64 is fine if ``atol`` allows it);
    - a bool or a str: the same.

    Everything is compared as plain values made here, never with the answer's own ``==``:
    an object whose class defines its own comparison or conversion is refused. ``mistakes``
    lists known wrong answers as ``(wrong value, what that mistake is)``: a wrong answer equal
    to one of them gets that sentence; any other wrong value gets ``hint`` (where to look).
    """
    problem = _problem(got, expected, atol)
    if problem is None:
        print(f"\N{CHECK MARK} {what}: correct")
        return
    for wrong, mistake in mistakes:
        if _problem(got, wrong, atol) is None:
            raise AssertionError(f"{what}: {mistake}")
    raise AssertionError(f"{what}: {problem}" + (f". {hint}" if hint else ""))


def _names_used(function: types.FunctionType, forbidden: set[str], seen: set[int]) -> set[str]:
    """Every global or attribute name in function's code, its nested code and the notebook's
    functions it calls (a forbidden one is named, not read further)."""
    names: set[str] = set()
    codes = [function.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(const for const in code.co_consts if isinstance(const, types.CodeType))
    for name in sorted(names - forbidden):
        helper = function.__globals__.get(name)
        same_notebook = isinstance(helper, types.FunctionType) and helper.__module__ == function.__module__
        if same_notebook and id(helper) not in seen:
            seen.add(id(helper))
            names |= _names_used(helper, forbidden, seen)
    return names


def check_avoids(function: object, forbidden: Sequence[str]) -> None:
    """Check that an exercise's function does not use what the exercise forbids.

    ``forbidden`` are names as the code writes them (``"conv2d"`` catches ``F.conv2d``,
    ``torch.conv2d`` and ``nn.functional.conv2d``). The names are read from the function's
    code, its nested functions and the notebook functions it calls. Prints a tick, or raises
    ``AssertionError`` naming what was used. It sees the plain use, not a deliberate dodge
    (``getattr`` with a computed string); the hidden tests and the grader read the code too.
    """
    if not isinstance(function, types.FunctionType):
        raise AssertionError(f"expected a function written with def, got {_describe(function)}")
    used = sorted(_names_used(function, set(forbidden), {id(function)}) & set(forbidden))
    if used:
        raise AssertionError(
            f"{function.__name__} uses {', '.join(used)}, which this exercise asks you not to use: "
            "write that step yourself"
        )
    print(f"\N{CHECK MARK} {function.__name__} does not use {', '.join(forbidden)}")

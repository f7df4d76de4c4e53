"""Helpers shared by the notebooks of the series, in their order: the convolution by loops and
by im2col, col2im for the backward pass, the CIFAR-10 images, the figures. (The exercises' checks
are checks.py's.)
Conventions, PyTorch's: images are NumPy arrays (N, C, H, W) = (batch, channels, height, width);
filters are (K, C, kh, kw); ``kernel_size``, ``stride``, ``padding`` and ``dilation`` take an int
or an (h, w) pair. Bad input raises ValueError naming the parameter and the rule it broke."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from urllib.request import Request, urlopen

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from IPython import get_ipython
from IPython.core.pylabtools import print_figure
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

IntOrPair = int | tuple[int, int]
# torch.utils.benchmark (notebook 05) warns on stderr on machines with a CUDA toolkit but no GPU.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

# --- Checking arguments: the one place ------------------------------------------------------


def _pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    """An int or an (h, w) pair as a pair of ints >= ``minimum``; else a ValueError naming ``name``."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in pair):
        raise ValueError(f"{name} must be an integer or an (h, w) pair of integers, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _geometry(size: IntOrPair, kernel_size: IntOrPair, stride=1, padding=0, dilation=1) -> list[tuple]:
    """The checked settings -> [kernel, stride, padding, dilation, output size], each an (h, w) pair."""
    settings = [_pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)]
    settings += [_pair(padding, "padding", 0), _pair(dilation, "dilation", 1)]
    out = []
    for n, k, s, p, d in zip(_pair(size, "size", 1), *settings, strict=True):
        span = d * (k - 1) + 1  # how many input cells one (dilated) window covers
        if span > n + 2 * p:
            message = f"{span} cells, more than the padded input size+2*padding = {n + 2 * p}"
            raise ValueError(f"kernel_size: the dilated kernel spans dilation*(kernel_size-1)+1 = {message}")
        out.append((n + 2 * p - span) // s + 1)
    return [*settings, tuple(out)]


def _batch(x: object, w: object = None, b: object = None) -> tuple:
    """Check an input batch x (N, C, H, W), its filters w (K, C, kh, kw) and biases b (K,)."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    if w is not None and np.ndim(w) != 4:
        raise ValueError(f"w must be 4-D (K, C, kh, kw), got shape {np.shape(w)}")
    if w is not None and np.shape(w)[1] != x.shape[1]:
        raise ValueError(
            f"w must have as many channels as x: w.shape[1] = {np.shape(w)[1]}, x.shape[1] = {x.shape[1]}"
        )
    if b is not None and np.shape(b) != np.shape(w)[:1]:
        raise ValueError(f"b must have shape (K,), one bias per filter, got {np.shape(b)}")
    return x, None if w is None else np.asarray(w), None if b is None else np.asarray(b)


# --- The convolution ------------------------------------------------------------------------


def conv_output_size(size: IntOrPair, kernel_size: IntOrPair, stride=1, padding=0, dilation=1) -> IntOrPair:
    """Output size of a convolution, by ``nn.Conv2d``'s formula (``conv_output_size(32, 5) == 28``):
    ``floor((size + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``, an int if every
    argument is an int, else an (h_out, w_out) pair."""
    out = _geometry(size, kernel_size, stride, padding, dilation)[-1]  # (h_out, w_out)
    pairs = any(isinstance(a, (tuple, list)) for a in (size, kernel_size, stride, padding, dilation))
    return out if pairs else out[0]


def conv2d_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0, dilation=1):
    """Convolution by its definition, one output value at a time: slow, for checking.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    x, w, b = _batch(x, w, b)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = _geometry(
        x.shape[2:], w.shape[2:], stride, padding, dilation
    )
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # zeros around each channel
    out = np.zeros((len(x), len(w), h_out, w_out), dtype=np.result_type(x, w, 0 if b is None else b))
    for n, k, i, j in np.ndindex(out.shape):
        rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)  # the kh rows under the filter
        cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)  # the kw columns
        out[n, k, i, j] = np.sum(x_pad[n, :, rows, cols] * w[k])  # window (C, kh, kw) * filter (C, kh, kw)
    return out if b is None else out + b.reshape(-1, 1, 1)


def im2col(x: np.ndarray, kernel_size: IntOrPair, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Unfold every window of x into a column, in ``F.unfold``'s order: row ``c*kh*kw + p*kw + q``
    is channel c at kernel offset (p, q), column ``i*W_out + j`` the window of output (i, j).

    x (N, C, H, W) -> (N, C*kh*kw, L) with L = H_out * W_out
    """
    x = _batch(x)[0]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = _geometry(
        x.shape[2:], kernel_size, stride, padding, dilation
    )
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    # windows[n, c, i, j, p, q], a view: every stride-th window, every dilation-th cell of it.
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    windows = sliding_window_view(x_pad, span, axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
    cols = windows.transpose(0, 1, 4, 5, 2, 3).copy()  # (N, C, kh, kw, H_out, W_out): the one copy
    return cols.reshape(len(x), -1, h_out * w_out)


def conv2d_im2col(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0, dilation=1):
    """Convolution as im2col, one matrix multiply, a reshape: the (K, C*kh*kw) filter matrix
    times each image's (C*kh*kw, L) column matrix gives its (K, L) outputs.

    x (N, C, H, W), w (K, C, kh, kw), b (K,) -> (N, K, H_out, W_out)
    """
    x, w, b = _batch(x, w, b)
    cols = im2col(x, w.shape[2:], stride, padding, dilation)  # (N, C*kh*kw, L)
    out = w.reshape(len(w), -1) @ cols  # (K, C*kh*kw) @ (N, C*kh*kw, L) -> (N, K, L)
    if b is not None:
        out = out + b.reshape(-1, 1)  # one bias per filter: per row
    return out.reshape(len(x), len(w), *conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation))


def col2im(cols: np.ndarray, input_size: IntOrPair, kernel_size: IntOrPair, stride=1, padding=0, dilation=1):
    """Fold columns back into images, the adjoint of ``im2col``, as ``F.fold`` does: each value
    is *added* to the input pixel im2col read it from, so a pixel covered by several windows gets
    the sum of its copies, and a pixel no window covers gets 0.

    cols (N, C*kh*kw, L) -> (N, C, H, W), with (H, W) = input_size and L = H_out * W_out
    """
    cols, (height, width) = np.asarray(cols), _pair(input_size, "input_size", 1)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (h_out, w_out) = _geometry(
        (height, width), kernel_size, stride, padding, dilation
    )
    if cols.ndim != 3:
        raise ValueError(f"cols must be 3-D (N, C*kh*kw, L), got shape {cols.shape}")
    if cols.shape[1] % (kh * kw) or not cols.shape[1]:
        raise ValueError(f"cols must have C*kh*kw rows, a multiple of kh*kw = {kh * kw}, got {cols.shape[1]}")
    if cols.shape[2] != h_out * w_out:
        raise ValueError(
            f"cols must have L = H_out*W_out = {h_out * w_out} columns for input_size {(height, width)} "
            f"and these settings, got {cols.shape[2]}"
        )
    cols = cols.reshape(len(cols), -1, kh, kw, h_out, w_out)
    x_pad = np.zeros((*cols.shape[:2], height + 2 * ph, width + 2 * pw), dtype=cols.dtype)
    for p, q in np.ndindex(kh, kw):  # one strided add per kernel offset: im2col's slice in reverse
        rows = slice(p * dh, p * dh + sh * (h_out - 1) + 1, sh)  # the h_out rows offset p meets
        columns = slice(q * dw, q * dw + sw * (w_out - 1) + 1, sw)  # the w_out columns
        x_pad[:, :, rows, columns] += cols[:, :, p, q]  # add, do not copy: windows overlap
    return x_pad[:, :, ph : ph + height, pw : pw + width]  # the padding was never part of x


EDGE_FILTER_NAMES = ("vertical edges (Sobel x)", "horizontal edges (Sobel y)", "all edges (Laplacian)")


def edge_filters(in_channels: int = 3) -> torch.Tensor:
    """Three classic 3x3 edge detectors (``EDGE_FILTER_NAMES``) on the mean of the channels:
    left to right, top to bottom, any direction. -> weights (3, in_channels, 3, 3)"""
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernels = torch.stack([sobel_x, sobel_x.T, laplacian])  # (3, 3, 3)
    return kernels[:, None].repeat(1, in_channels, 1, 1) / in_channels


# --- CIFAR-10 -------------------------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_PATH = DATA_DIR / "cifar10_test_first20.npz"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
HALF_MEAN = HALF_STD = (0.5, 0.5, 0.5)  # round numbers that map [0, 1] to [-1, 1]: not CIFAR-10's statistics


def cifar10_transform(normalize: bool = True):
    """``ToTensor()``: (32, 32, 3) uint8 -> (3, 32, 32) floats in [0, 1]; ``Normalize`` (0.5, 0.5) -> [-1, 1].
    CIFAR-10's own training-split statistics: means ~(0.491, 0.482, 0.447), stds ~(0.247, 0.243, 0.261)."""
    from torchvision import transforms  # here, not at the top: importing torchvision takes seconds

    normalizing = [transforms.Normalize(HALF_MEAN, HALF_STD)] if normalize else []
    return transforms.Compose([transforms.ToTensor(), *normalizing])


def unnormalize(image: torch.Tensor, mean=HALF_MEAN, std=HALF_STD) -> np.ndarray:
    """Undo ``Normalize(mean, std)``: (C, H, W) tensor -> (H, W, C) array in [0, 1], for ``imshow``.
    ``mean=(0, 0, 0), std=(1, 1, 1)`` for an image that was never normalised."""
    if image.ndim != 3:
        raise ValueError(f"image must be 3-D (C, H, W), got shape {tuple(image.shape)}")
    mean_t, std_t = torch.tensor(mean).view(-1, 1, 1), torch.tensor(std).view(-1, 1, 1)
    return (image.detach().cpu() * std_t + mean_t).clamp(0, 1).permute(1, 2, 0).numpy()


class CIFAR10Sample(torch.utils.data.Dataset):
    """The first 20 CIFAR-10 test images, in ``data/``, used like ``torchvision.datasets.CIFAR10``:
    ``data`` (N, 32, 32, 3) uint8, ``targets``, ``classes``; ``[i]`` -> (transform(PIL image), label)."""

    def __init__(self, path: Path = SAMPLE_PATH, transform=None) -> None:
        with np.load(path, allow_pickle=False) as arrays:  # plain arrays: loading runs no code
            self.data, self.targets = arrays["images"], arrays["labels"].tolist()
        self.classes, self.transform = list(CIFAR10_CLASSES), transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[object, int]:
        image = Image.fromarray(self.data[index])
        return (image if self.transform is None else self.transform(image)), self.targets[index]


def load_cifar10_test(transform=None, root: Path = DATA_DIR, download: bool = True, timeout: float = 3.0):
    """The CIFAR-10 test set with ``transform``: the 10,000 images already in ``root``; else
    downloaded there (if ``download`` and the server answers within ``timeout`` s); else the 20
    of ``CIFAR10Sample``. Prints which. Never downloads while nbgrader grades, so that every
    submission is graded on the same images."""
    from torchvision.datasets import CIFAR10  # here, not at the top: importing torchvision takes seconds

    with contextlib.suppress(RuntimeError):  # RuntimeError: not in root
        dataset = CIFAR10(root, train=False, transform=transform)
        print(f"Using the full CIFAR-10 test set ({len(dataset)} images) found in {root}.")
        return dataset
    grading = bool(os.environ.get("NBGRADER_EXECUTION"))
    if download and not grading:
        try:
            urlopen(Request(CIFAR10.url, method="HEAD"), timeout=timeout).close()  # is the server there?
            dataset = CIFAR10(root, train=False, download=True, transform=transform)
            print(f"Using the full CIFAR-10 test set ({len(dataset)} images), downloaded to {root}.")
            return dataset
        except (OSError, RuntimeError) as error:  # no network, no answer in time, a broken download
            print(f"Could not download CIFAR-10 ({error}).")
    dataset = CIFAR10Sample(transform=transform)
    why = "nbgrader does not download while it grades" if grading else "is not on this machine"
    print(f"Using the {len(dataset)} test images in data/{SAMPLE_PATH.name} (the full set {why}).")
    return dataset


def sample_batch(normalize: bool = True) -> torch.Tensor:
    """The 20 test images of ``data/`` as one float32 batch (20, 3, 32, 32): exactly what
    ``cifar10_transform(normalize)`` makes of each, without torchvision (its import takes seconds).
    For a notebook that needs a few real images, not the dataset."""
    images = torch.from_numpy(CIFAR10Sample().data).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    images = images.float().div(255)  # uint8 0-255 -> [0, 1], as ToTensor()
    if normalize:  # as Normalize(HALF_MEAN, HALF_STD): [0, 1] -> [-1, 1]
        mean, std = torch.tensor(HALF_MEAN).view(1, 3, 1, 1), torch.tensor(HALF_STD).view(1, 3, 1, 1)
        images = (images - mean) / std
    return images


def first_warning(function: Callable[[], object]) -> tuple[object, str]:
    """``function()`` and the first line of the first warning it gave (``"none"`` if none), shown
    every time, not once per session as PyTorch does: a notebook prints the same on every run."""
    warn_always = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings(record=True, action="always") as caught:
            result = function()
    finally:
        torch.set_warn_always(warn_always)
    return result, str(caught[0].message).split(" (Triggered")[0] if caught else "none"


# --- Figures --------------------------------------------------------------------------------


def use_series_style() -> None:
    """One look for every figure of the series; call it once, at the top of a notebook. In a
    notebook each figure also carries its description (``_describe_figure``) as alt text."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 80, "axes.titleweight": "bold", "image.cmap": "viridis"})
    if (shell := get_ipython()) is not None:
        plt.switch_backend(plt.get_backend())  # load the inline backend now: it sets the PNG formatter
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: (print_figure(fig, base64=True), {"alt": _describe_figure(fig)}))


def _describe_figure(fig: Figure) -> str:
    """A figure in its own words, for readers who cannot see it: its suptitle, then each panel's
    title and axis labels, e.g. ``"Input x. Panels: channel 0 (x: column, y: row); channel 1."``"""
    panels = []
    for ax in fig.axes:
        named = {"x": ax.get_xlabel(), "y": ax.get_ylabel()}
        labels = ", ".join(f"{axis}: {text}" for axis, text in named.items() if text)
        title = "colour bar" if ax.get_label() == "<colorbar>" else ax.get_title()
        panels.append(" ".join(f"{title} ({labels})".split()) if labels else " ".join(title.split()))
    panels, suptitle = [panel for panel in panels if panel], " ".join(fig.get_suptitle().split())
    if suptitle and panels:
        return f"{suptitle}. Panel{'s' * (len(panels) > 1)}: {'; '.join(panels)}."
    return f"{suptitle or '; '.join(panels)}." if suptitle or panels else ""


def plot_grid(
    values: np.ndarray, ax: plt.Axes, title: str, fmt=".0f", cmap="Blues", box=None, vmin=None, vmax=None
):
    """Draw a 2-D array (H, W) as a heatmap with each value written in its cell; NaN cells stay
    blank. ``box = (top, left, height, width)`` outlines a window; ``vmin``/``vmax`` fix the colours,
    so that several grids (or the frames of an animation) give a value the same colour."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (H, W), got shape {values.shape}")
    # Plain matplotlib: sns.heatmap redraws the figure for each grid, too slow for animations.
    mesh = ax.pcolormesh(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, edgecolors="white")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            red, green, blue, _ = mesh.cmap(mesh.norm(value))
            color = "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "0.15"  # dark cell?
            ax.text(col + 0.5, row + 0.5, format(value, fmt), ha="center", va="center", color=color)
    n_rows, n_cols = values.shape
    ax.set(aspect="equal", xlim=(0, n_cols), ylim=(n_rows, 0), xlabel="column", ylabel="row")  # row 0 on top
    ax.set(xticks=np.arange(n_cols) + 0.5, xticklabels=range(n_cols), yticks=np.arange(n_rows) + 0.5)
    ax.set_yticklabels(range(n_rows))
    ax.grid(False)
    ax.set_title(title, y=1.0)  # a fixed height: matplotlib's automatic one is slow to work out
    if box is not None:
        top, left, height, width = box
        ax.add_patch(Rectangle((left, top), width, height, fill=False, edgecolor="crimson", linewidth=3))
    return ax


def animation_html(fig: Figure, draw_frame: Callable[[int], object], n_frames: int, fps: int = 1) -> str:
    """An HTML player (a string) of the frames ``draw_frame(0 .. n_frames-1)``, with plain symbols
    for the buttons instead of matplotlib's Font Awesome icons, which come from the internet.
    Build ``fig`` with ``matplotlib.figure.Figure``, not pyplot, so that no still copy shows."""
    from matplotlib.animation import FuncAnimation

    html = FuncAnimation(fig, draw_frame, frames=n_frames).to_jshtml(fps=fps, default_mode="once")
    icons = (
        "minus fast-backward step-backward play_fa-flip-horizontal pause play step-forward fast-forward plus"
    )
    symbols = "\u2212 |\u25c0\u25c0 |\u25c0 \u25c0 \u275a\u275a \u25b6 \u25b6| \u25b6\u25b6| +"
    for icon, symbol in zip(icons.split(), symbols.split(), strict=True):
        html = html.replace(f'<i class="fa fa-{icon.replace("_", " ")}"></i>', symbol)
    # Frame 0 as the picture's own source: JupyterLab shows no picture a script fills in off screen.
    first = re.search(r'frames\[0\] = "([^"]*)"', html)[1].replace("\\\n", "")
    html = re.sub(r'<img id="_anim_img\w+"', lambda tag: f'{tag[0]} src="{first}"', html, count=1)
    return re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", html)

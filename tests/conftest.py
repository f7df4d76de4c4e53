"""Shared fixtures: each notebook is executed once per test session and the result reused."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from notebooks import execute, notebook_paths


@pytest.fixture(scope="session")
def executed():
    """``executed("04_im2col_vs_conv2d")`` -> (executed notebook, snapshot of its globals).

    The first call for a notebook runs it headless (offline, in its own folder); later calls
    return the same result, so every test of a notebook reads one and the same run.
    ``executed(stem, run=2)`` is a second, independent run (for the determinism test).

    The first request for a run starts that run of every notebook, two at a time in separate
    processes: a notebook spends most of its time starting a kernel and importing PyTorch on
    one core, so two at once take about half as long on a 2-core machine.
    """
    # "spawn": a fork of this process, which has imported torch, could hang in the child.
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    futures = {}

    def run(stem: str, run: int = 1):
        if (stem, run) not in futures:
            for path in notebook_paths():
                futures[(path.stem, run)] = pool.submit(execute, path)
        return futures[(stem, run)].result()

    yield run
    pool.shutdown(cancel_futures=True)


@pytest.fixture(scope="session")
def random_geometries():
    """``random_geometries(count, seed, max_size=12)``: convolution settings drawn at random.

    Each is ``(size, kernel, geometry)``: the input (H, W), the kernel (kh, kw), and
    ``{"stride", "padding", "dilation"}``, all (h, w) pairs, keeping only those whose dilated
    kernel fits the padded input. The same seed gives the same list.
    """

    def generate(count: int, seed: int, max_size: int = 12) -> list[tuple]:
        rng = np.random.default_rng(seed)
        found = []
        while len(found) < count:
            size, kernel = rng.integers(1, max_size + 1, 2), rng.integers(1, 6, 2)
            stride, padding, dilation = rng.integers(1, 4, 2), rng.integers(0, 3, 2), rng.integers(1, 3, 2)
            if np.all(dilation * (kernel - 1) + 1 <= size + 2 * padding):
                pairs = [tuple(int(v) for v in values) for values in (stride, padding, dilation)]
                geometry = dict(zip(("stride", "padding", "dilation"), pairs, strict=True))
                found.append((tuple(int(v) for v in size), tuple(int(v) for v in kernel), geometry))
        return found

    return generate

"""Shared fixtures: each notebook is executed once per test session and the result reused."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

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

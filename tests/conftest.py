"""Shared fixtures: each notebook is executed once per test session and the result reused."""

import pytest

from notebooks import NOTEBOOK_DIR, execute


@pytest.fixture(scope="session")
def executed():
    """``executed("04_im2col_vs_conv2d")`` -> (executed notebook, snapshot of its globals).

    The first call for a notebook runs it headless (offline, in its own folder); later calls
    return the same result, so every test of a notebook reads one and the same run.
    """
    cache = {}

    def run(stem: str):
        if stem not in cache:
            cache[stem] = execute(NOTEBOOK_DIR / f"{stem}.ipynb")
        return cache[stem]

    return run

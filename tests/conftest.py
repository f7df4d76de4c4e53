"""Shared fixtures.

pytest-xdist runs each test module on one worker (``--dist loadfile``, see pyproject.toml), so a
module that needs a notebook's run makes it itself: tests/test_notebook_NN.py runs notebook NN
once, tests/test_site.py runs the series once to build the site from it. A module that needs a
course after `make assignment` gets a copy of one built once (``assignment_course``). The modules marked
slow (grading, the site) go to the workers first, the longest first.
"""

import os
from pathlib import Path

# One thread per core in all, not per process: pytest-xdist runs a worker per core, and each
# kernel it starts (notebooks, the site, the hub) would otherwise give PyTorch, OpenMP and the
# BLAS a thread per core each. Oversubscribed, their barriers wait on preempted threads and a
# small convolution takes ten times as long. Set before NumPy or PyTorch loads; kernels inherit it.
if _workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # in each worker, not in the main process
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, str(max(1, (os.cpu_count() or 1) // int(_workers))))

import numpy as np
import pytest
import scaffold
from nbclient.exceptions import CellExecutionError
from testbook import testbook

from tools.series import NOTEBOOK_DIR, NotebookError, failed_cell, kernel_settings


def pytest_collection_modifyitems(items):
    """The slowest modules first, by the seconds their ``slow`` marker gives: pytest-xdist hands
    modules to its workers in this order, so the long ones start at once and apart (the two
    grading modules each want both cores), and the short ones fill in around them."""

    def seconds(item) -> float:
        marker = item.get_closest_marker("slow")
        return -(marker.args[0] if marker.args else 60) if marker else 0

    items.sort(key=seconds)  # stable: a module's tests stay together, in their order


@pytest.fixture(scope="module")
def notebook(request):
    """The notebook the test module names in ``NOTEBOOK``, every cell run in one kernel that
    stays up for the module's tests: a testbook client. ``notebook.nb`` is the executed notebook,
    ``notebook.value("x.tolist()")`` what an expression evaluates to in the kernel.

    The notebook runs headless, in its own folder, as `make html` runs it; a cell that raises
    fails every test of the module with the notebook's and the cell's name.
    """
    path = NOTEBOOK_DIR / f"{request.module.NOTEBOOK}.ipynb"
    with kernel_settings(path) as settings, testbook(str(path), timeout=300, **settings) as client:
        try:
            client.execute()
        except CellExecutionError as error:
            raise NotebookError(f"{failed_cell(path, client.nb)} raised:\n{error}") from None
        yield client


@pytest.fixture(scope="module")
def assignment_course(tmp_path_factory) -> Path:
    """The module's own course folder after `make assignment`: source, release, gradebook and
    zip (a copy of a build made once for its inputs, see scaffold.py)."""
    return scaffold.assignment_course(tmp_path_factory.mktemp("course") / "course")


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


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium (``CHROMIUM=/path/to/chrome`` for another), headless, driven by Playwright.

    A missing browser fails the tests that need it: .ci/run installs it, and a skipped browser
    test would pass a site or a student's path that nobody looked at.
    """
    from playwright.sync_api import sync_playwright

    chromium = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    assert chromium.exists(), f"no browser at {chromium}: apt-get install chromium (or set CHROMIUM=)"
    # No background traffic: the machine may have no network, and nothing may reach out anyway.
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    flags += ["--disable-component-update", "--no-first-run"]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=flags)
        yield launched
        launched.close()

"""The set-up cell (tools/setup_cell.py): in every notebook, current, silent when the helper files
are there, and when they are not, fetching them from a stand-in for the published location on
127.0.0.1, refusing a tampered file, or saying in one sentence what to download."""

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tools import setup_cell
from tools.series import ROOT, kernel_settings, notebook_paths

FILES = setup_cell.settings()["helper-files"]
# A Python that cannot import the repository's utils.py: without the editable install's finder
# (pip install -e .), as in Colab or in a folder that holds one downloaded notebook.
HIDE_UTILS = "import sys; sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in f.__module__]"
# Anything that is not 127.0.0.1 goes to a proxy that is not there: nothing leaves the machine.
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "127.0.0.1"}


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        """No log line per request on stderr."""


def serve(folder: Path) -> Iterator[str]:
    """A static HTTP server on 127.0.0.1 for ``folder``, while the generator is open: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def published(tmp_path) -> Iterator[str]:
    """The helper files as the published location serves them, from 127.0.0.1: its base URL."""
    folder = tmp_path / "published"
    for name in FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, folder / name)
    yield from serve(folder)


def run_cell(folder: Path, base_url: str) -> subprocess.CompletedProcess:
    """The set-up cell run by a Python that cannot import utils, in ``folder``, offline."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | OFFLINE
    env[setup_cell.ENV_VAR] = base_url
    code = HIDE_UTILS + "\n" + setup_cell.cell_source()
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True)


def test_every_notebook_carries_the_current_setup_cell_second():
    source = setup_cell.cell_source()
    assert setup_cell.stale(notebook_paths(), source) == [], "run python -m tools.setup_cell --write"
    assert setup_cell.main(["--check"]) == 0
    assert all(name in source for name in FILES) and "utils.py" in FILES


def test_the_cell_carries_each_files_sha256():
    source = setup_cell.cell_source()
    for name in FILES:
        assert f'"{name}": "{setup_cell.sha256(ROOT / name)}"' in source


def test_the_published_location_is_the_repositorys_branch(tmp_path):
    assert setup_cell.base_url({"repository": "", "branch": "main"}) == ""
    config = {"repository": "https://github.com/ada/conv-im2col", "branch": "main"}
    assert setup_cell.base_url(config) == "https://raw.githubusercontent.com/ada/conv-im2col/main/"
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        setup_cell.github_repository("https://example.org/ada/conv-im2col")


def test_with_the_files_present_it_prints_nothing(tmp_path):
    env = (
        {k: v for k, v in os.environ.items() if k != setup_cell.ENV_VAR} | OFFLINE | {"PYTHONPATH": str(ROOT)}
    )
    done = subprocess.run(
        [sys.executable, "-c", setup_cell.cell_source()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert list(tmp_path.iterdir()) == [], "nothing written"


def test_a_tampered_file_is_refused(tmp_path, published):
    folder = tmp_path / "alone"
    folder.mkdir()
    (tmp_path / "published" / "utils.py").write_text("print('not the series')\n")
    done = run_cell(folder, published)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Refused {published}utils.py: not the series' utils.py (its SHA-256 differs)."
    ), done.stderr
    assert not (folder / "utils.py").exists(), "the tampered file is not saved"


def test_offline_and_missing_it_says_what_to_download_and_where(tmp_path):
    done = run_cell(tmp_path, "http://127.0.0.1:9/")  # nothing listens there
    assert done.returncode == 1 and done.stdout == ""
    message = done.stderr.strip()
    assert message == f"Missing {', '.join(FILES)}: download them from http://127.0.0.1:9/ into {tmp_path}."


@pytest.mark.parametrize("name", ["03_cifar10_loading"])
def test_a_notebook_alone_in_a_folder_fetches_the_files_and_runs_to_its_exercises(
    tmp_path, published, monkeypatch, name
):
    folder = tmp_path / "alone"
    folder.mkdir()
    path = shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", folder)
    nb = nbformat.read(path, as_version=4)
    exercises = next(i for i, c in enumerate(nb.cells) if c.source.startswith("## Exercises"))
    nb.cells = nb.cells[:exercises]
    # A kernel that cannot import the repository's utils.py, offline but for the stand-in server.
    kernels = tmp_path / "jupyter" / "kernels" / "alone"
    kernels.mkdir(parents=True)
    boot = HIDE_UTILS + "; from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
    spec = {"argv": [sys.executable, "-c", boot, "-f", "{connection_file}"], "language": "python"}
    (kernels / "kernel.json").write_text(json.dumps(spec | {"display_name": "alone"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv(setup_cell.ENV_VAR, published)
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    with kernel_settings(Path(path)) as settings:
        NotebookClient(nb, timeout=300, **(settings | {"kernel_name": "alone"})).execute()
    setup = nb.cells[1]
    assert setup.id == setup_cell.CELL_ID
    said = "".join(o.get("text", "") for o in setup.outputs)
    assert said == f"Fetched {', '.join(FILES)} from {published} into {folder}: their SHA-256 checked.\n"
    for file in FILES:
        assert setup_cell.sha256(folder / file) == setup_cell.sha256(ROOT / file)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    sample = next(Path(f).name for f in FILES if f.endswith(".npz"))
    assert f"test images in data/{sample}" in printed, "the notebook used the fetched sample"

"""Find and execute the notebooks of the series, headless (used by `make html` and the tests)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"


class NotebookError(RuntimeError):
    """A cell of a notebook raised: the message names the notebook and the cell."""


def notebook_paths(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    """The series in order: every ``NN_name.ipynb`` in ``folder``, sorted by name."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def cell_name(path: Path, index: int, cell: nbformat.NotebookNode) -> str:
    """How messages name a cell: ``02_x.ipynb, cell 7 ('its first line')``."""
    first_line = cell.source.splitlines()[0] if cell.source else ""
    return f"{path.name}, cell {index} ({first_line!r})"


def _failed_cell(path: Path, nb: nbformat.NotebookNode) -> str:
    """The name of the cell that holds an error output (the notebook's, if none does)."""
    for index, cell in enumerate(nb.cells):
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            return cell_name(path, index, cell)
    return path.name


# Runs in the kernel after the last cell: every global that JSON can hold, as one JSON line.
# Tensors and arrays (up to 100,000 values) become nested lists, DataFrames pandas' "split" form.
_SNAPSHOT = """
def _snapshot():
    import json
    values = {}
    for name, value in dict(globals()).items():
        skip = name.startswith("_") or name in ("In", "Out") or callable(value)
        if skip or type(value).__name__ == "module":
            continue
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if hasattr(value, "tolist") and getattr(value, "size", 0) <= 100_000:
            value = value.tolist()
        elif hasattr(value, "to_json"):
            value = json.loads(value.to_json(orient="split", default_handler=str))
        try:
            values[name] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            pass
    return json.dumps(values)
print(_snapshot())
"""


def execute(path: Path, timeout: int = 300, snapshot: bool = True) -> tuple[nbformat.NotebookNode, dict]:
    """Run every cell of the notebook at ``path`` in a fresh kernel, in its own folder.

    Returns the executed notebook and a snapshot of the kernel's globals at the end (the
    values JSON can hold; see ``_SNAPSHOT``), so tests can check the notebook's own numbers;
    ``snapshot=False`` skips it (an empty dict), which saves seconds on big arrays. The
    snapshot cell is not added to the notebook. Raises ``NotebookError`` naming the
    notebook and the cell if any cell raises.
    """
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as sockets:
        # The kernel talks over local socket files, not TCP ports: nothing is reachable from
        # the network, and ipykernel has no reason to warn about unencrypted TCP on stderr.
        # The path is absolute: the kernel runs in the notebook's folder, this process not.
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        client = NotebookClient(
            nb,
            config=ipc,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": str(path.parent)}},
            # Stop the kernel at once when done: a polite shutdown of a kernel that imported
            # PyTorch takes 2 to 3 seconds, a quarter of a short notebook's run.
            shutdown_kernel="immediate",
        )
        try:
            with client.setup_kernel():
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
                if snapshot:
                    nb.cells.append(nbformat.v4.new_code_cell(_SNAPSHOT))
                    client.execute_cell(nb.cells[-1], len(nb.cells) - 1, store_history=False)
                    outputs = nb.cells.pop().outputs
        except CellExecutionError as error:
            raise NotebookError(f"{_failed_cell(path, nb)} raised:\n{error}") from None
    values = json.loads("".join(out.get("text", "") for out in outputs)) if snapshot else {}
    return nb, values

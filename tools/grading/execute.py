"""nbgrader's Execute step, made to finish whatever a cell does: ``StoppingExecute``.

nbgrader interrupts a cell that runs past ``Execute.timeout``. A cell that ignores the
interrupt (it catches ``KeyboardInterrupt`` and goes on) never lets its kernel go idle: nbclient
then waits ``Execute.iopub_timeout`` seconds more for the cell's last output and raises, and the
whole notebook, so the whole student, fails to grade, on every run. Here, when that wait runs
out (the grace period), or when the kernel died (say, killed for its memory), the kernel is
stopped at once (its sandbox with it), the cell gets an error output that says why, and every
cell after it gets one too, without running: those parts score zero, the parts before keep
their scores, and nbgrader goes on with the next notebook and student.

It also merges each cell's stream outputs, so that a feedback page is the same on every run
(``coalesce_streams``, which only code can set).
"""

from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool

STOPPED = "KernelStopped"  # the ename of the error output the stopped cells get


def stopped_output(text: str) -> NotebookNode:
    return new_output("error", ename=STOPPED, evalue=text, traceback=[f"{STOPPED}: {text}"])


class StoppingExecute(Execute):
    """Execute that stops a kernel which ignores the interrupt, and scores what is left zero."""

    # ipykernel sends what a cell prints in as many pieces as it flushed, and how many depends
    # on how busy the machine is: merged, the feedback page is the same on every run. nbclient's
    # trait is not configurable (``c.Execute.coalesce_streams`` in a config file does nothing),
    # so it is set here.
    coalesce_streams = Bool(True)
    _stopped: str | None = None  # why the kernel was stopped (for the cells after it)

    def preprocess_cell(self, cell, resources, index):
        if self._stopped is not None:
            if cell.cell_type == "code":
                cell.outputs = [stopped_output(self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (CellTimeoutError, DeadKernelError) as error:
            if isinstance(error, DeadKernelError):
                why = "the kernel died while it ran (out of memory, or it exited)"
            else:
                why = (
                    f"it ran past the {self.timeout} s timeout and ignored the interrupt for "
                    f"{self.iopub_timeout} s more, so the grader stopped its kernel"
                )
            self.log.warning("Cell %s: %s", index, why)
            cell.outputs.append(stopped_output(f"This cell scored zero: {why}."))
            self._stopped = f"Not run, scored zero: cell {index} stopped the kernel ({why})."
            run_sync(self.km.shutdown_kernel)(now=True)
            return cell, resources

    def preprocess(self, nb, resources=None, km=None):
        self._stopped = None
        return super().preprocess(nb, resources, km)

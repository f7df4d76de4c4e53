"""nbgrader's settings for grading the series as one assignment.

nbgrader reads this file when it runs in the repository root, as `make assignment`,
`make collect` and `make autograde` do (see docs/grading.md).
"""

import os
import sys
from pathlib import Path

from nbgrader import utils
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.validator import Validator

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # checks.py, which scoring imports
from sandbox import SandboxedKernelManager  # noqa: E402
from scoring import HideHiddenTests, ScoreInTheGrader  # noqa: E402

c = get_config()  # noqa: F821 (nbgrader provides it)

# The course folder (git-ignored): source/, release/, submitted/, autograded/, feedback/.
c.CourseDirectory.root = str(Path(__file__).resolve().parent / "course")
c.CourseDirectory.course_id = "conv-im2col"

# Each cell may run this many seconds when grading; then nbgrader interrupts the kernel, the
# cell gets a CellTimeoutError (so its exercise scores zero) and grading goes on with the next
# cell. The slowest cell of the series (its imports) takes about 15 s on a busy 2-core machine;
# an endless loop never returns.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# After the reply (or the interrupt), wait this long for the cell's last output. nbgrader's 4 s
# are too short on a busy machine, and running out fails the student's whole notebook.
c.Execute.iopub_timeout = 30
# When a notebook is done, stop its kernel at once: a polite shutdown of a kernel that imported
# PyTorch takes 2 to 3 seconds, for every notebook of every student.
c.Execute.shutdown_kernel = "immediate"

# A student who deleted a check cell is still graded on it: nbgrader puts it back.
c.OverwriteCells.add_missing_cells = True

# `nbgrader zip_collect`: every file or archive in course/downloaded/<assignment>/archive/ is
# named after the student (`ada.zip`, `ada_convolution.zip` or a folder `ada/`, all for the
# student "ada"); the series' notebooks are found anywhere inside it, checkpoints excepted.
c.FileNameCollectorPlugin.named_regexp = (
    r".*/extracted/(?P<student_id>[^/_]+)[^/]*/"
    r"(?:(?!\.ipynb_checkpoints/)[^/]+/)*(?P<file_id>[0-9][0-9]_[^/]+\.ipynb)$"
)


class StderrIsNotAFailure(NbGraderPreprocessor):
    """Show what a check cell wrote to stderr as ordinary output, so it costs no points.

    nbgrader scores a test cell that wrote anything to stderr as zero, and a warning from
    torch, NumPy or matplotlib (or a library's log line) goes to stderr. After this step a
    check cell still scores zero if it raised (an error output), never for a warning; the
    student still sees the warning in the feedback.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


class SandboxedExecute(Execute):
    """nbgrader's Execute step, with each kernel in a bubblewrap sandbox (tools/sandbox.py).

    The sandbox shows the kernel a copy of the student's files and nothing else of the course,
    and gives it no network; see tools/sandbox.py and docs/grading.md.
    """

    def __init__(self, **kwargs):
        super().__init__(kernel_manager_class=SandboxedKernelManager, **kwargs)


# Sandbox limits for each student kernel (the per-cell timeout is Execute.timeout, above).
c.SandboxedKernelManager.memory_limit = 4 * 2**30  # bytes a kernel may allocate
c.SandboxedKernelManager.max_processes = 512  # processes and threads
c.SandboxedKernelManager.max_file_size = 256 * 2**20  # bytes in one written file

# `make autograde UNSAFE=1` sets UNSAFE_GRADING=1: grade with the grader's own rights.
_execute = Execute if os.environ.get("UNSAFE_GRADING") == "1" else SandboxedExecute

_steps = Autograde.class_traits()["autograde_preprocessors"].default()  # nbgrader's own list
_steps[_steps.index(Execute)] = _execute
_steps.insert(_steps.index(_execute) + 1, StderrIsNotAFailure)
# A check cell's score is decided here, in the grader's process, from the results its hidden
# block published; nothing else the kernel put in the cell counts (tools/scoring.py).
_steps.insert(_steps.index(StderrIsNotAFailure) + 1, ScoreInTheGrader)
c.Autograde.autograde_preprocessors = _steps
# The feedback shows each part's score and sentence, not the hidden tests' code.
_feedback = GenerateFeedback.class_traits()["preprocessors"].default()
c.GenerateFeedback.preprocessors = [_feedback[0], HideHiddenTests, *_feedback[1:]]
# The checker is the course's, read-only in the sandbox, as utils.py is.
c.SandboxedKernelManager.read_only = ["utils.py", "checks.py", "data"]
# `nbgrader validate` runs the notebook it checks in a sandbox too.
_validate = Validator.class_traits()["preprocessors"].default()
c.Validator.preprocessors = [_execute if step is Execute else step for step in _validate]

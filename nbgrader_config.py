"""nbgrader's settings for grading the series as one assignment.

nbgrader reads this file when it runs in the repository root, as `make assignment`,
`make collect` and `make autograde` do (see docs/grading.md).
"""

import os
from pathlib import Path

from nbgrader import utils
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.preprocessors import Execute, LimitOutput, NbGraderPreprocessor

from tools.grading.collect import SafeCollector, SafeExtractor
from tools.grading.execute import StoppingExecute
from tools.grading.sandbox import SandboxedKernelManager
from tools.grading.sanitize import SanitizeSubmission
from tools.grading.scoring import HideHiddenTests, ScoreInTheGrader
from tools.project import ASSIGNMENT
from tools.series import kernel_config

c = get_config()  # noqa: F821 (nbgrader provides it)

# The course folder (git-ignored): source/, release/, submitted/, autograded/, feedback/.
c.CourseDirectory.root = str(Path(__file__).resolve().parent / "course")
c.CourseDirectory.course_id = ASSIGNMENT  # pyproject.toml's [tool.conv-im2col]

# Each cell may run this many seconds when grading; then nbgrader interrupts the kernel, the
# cell gets a CellTimeoutError (so its exercise scores zero) and grading goes on with the next
# cell. The slowest cell of the series (its imports) takes about 15 s on a busy 2-core machine;
# an endless loop never returns.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
# After the reply (or the interrupt), wait this long for the cell's last output. nbgrader's 4 s
# are too short on a busy machine, and running out fails the student's whole notebook.
c.Execute.iopub_timeout = 30
# Kernels are started and stopped as everywhere else in the project (stopped at once when done).
c.merge(kernel_config())

# A student who deleted a check cell is still graded on it: nbgrader puts it back.
c.OverwriteCells.add_missing_cells = True

# `nbgrader zip_collect` (`make collect` runs it through tools/grading/collect.py): each file or folder in
# course/downloaded/<assignment>/archive/ is one student's (`ada.zip`, `ada_convolution.zip` or a
# folder `ada/`, all for the student "ada"), checked on its own; only the assignment's notebooks
# are taken from it, filed under that student whatever their paths inside (tools/grading/collect.py).
c.ZipCollectApp.extractor_plugin = SafeExtractor
c.ZipCollectApp.collector_plugin = SafeCollector
c.ZipCollectApp.strict = True


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


# The sandbox's limits for each student kernel (memory, processes, file and tmpfs sizes, what is
# read-only) are SandboxedKernelManager's settings, with their values and help in
# tools/grading/sandbox.py; change one here, e.g. c.SandboxedKernelManager.memory_limit = 8 * 2**30.
# The per-cell timeout is Execute.timeout, above.

# Every kernel nbgrader starts here (autograde's, and `nbgrader validate`'s on a submission) runs
# in a bubblewrap sandbox: a copy of the student's files and nothing else of the course, no
# network (tools/grading/sandbox.py, docs/grading.md). `make autograde UNSAFE=1` sets
# UNSAFE_GRADING=1: grade with the grader's own rights.
if os.environ.get("UNSAFE_GRADING") != "1":
    c.Execute.kernel_manager_class = SandboxedKernelManager

# Grading's Execute step stops a kernel that ignores the interrupt, and merges a cell's printed
# lines into one output per stream however the busy kernel flushed them, so that the feedback
# page is the same on every run (tools/grading/execute.py; no setting in this file can do that).
_steps = Autograde.class_traits()["autograde_preprocessors"].default()  # nbgrader's own list
_steps[_steps.index(Execute)] = StoppingExecute
_steps.insert(_steps.index(StoppingExecute) + 1, StderrIsNotAFailure)
# A check cell's score is decided here, in the grader's process, from the results its hidden
# block published; nothing else the kernel put in the cell counts (tools/grading/scoring.py).
_steps.insert(_steps.index(StderrIsNotAFailure) + 1, ScoreInTheGrader)
# Nothing the student's kernel printed, or their own Markdown, renders as active content in the
# autograded notebook, the feedback or the formgrader, and outputs are capped in bytes
# (tools/grading/sanitize.py). After nbgrader's LimitOutput, before the scores are saved.
_steps.insert(_steps.index(LimitOutput) + 1, SanitizeSubmission)
c.Autograde.autograde_preprocessors = _steps
# The feedback shows each part's score and sentence, not the hidden tests' code.
_feedback = GenerateFeedback.class_traits()["preprocessors"].default()
c.GenerateFeedback.preprocessors = [_feedback[0], HideHiddenTests, *_feedback[1:]]

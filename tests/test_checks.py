"""checks.py and the grader's side of it (tools/grading/scoring.py, tools/grading/flags.py): the guard sees a
forbidden capability however it is reached, results cross to the grader as plain data only, the
grader alone decides a score, and each attempt on the guard is flagged."""

import json

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from IPython.core.interactiveshell import InteractiveShell
from nbgrader.utils import determine_grade

import checks
from tools.grading import flags, scoring
from tools.project import ROOT

# --- The guard ----------------------------------------------------------------------------------

X, W = torch.randn(1, 2, 5, 5, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
CONVOLUTIONS = {
    "F.conv2d": lambda: F.conv2d(X, W),
    "a name built from strings": lambda: getattr(F, "con" + "v2d")(X, W),
    "torch.ops.aten": lambda: torch.ops.aten.convolution(
        X, W, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1
    ),
    "a private entry point": lambda: torch._C._VariableFunctions.conv2d(X, W),
    "nn.Conv2d": lambda: torch.nn.Conv2d(2, 3, 3, dtype=torch.float64)(X),
    "a 1-D convolution": lambda: F.conv1d(X[0], W[:, :, 0]),
    "an FFT": lambda: torch.fft.rfft2(X),
    "NumPy's correlate": lambda: np.correlate(np.ones(5), np.ones(3)),
    "the series' helper": lambda: __import__("utils").conv2d_naive(X.numpy(), W.numpy()),
}


def called(function) -> set[str]:
    return checks._guarded_call(lambda: function(), ())[1]


@pytest.mark.parametrize("route", CONVOLUTIONS, ids=list(CONVOLUTIONS))
def test_the_guard_sees_a_convolution_however_it_is_reached(route):
    names = called(CONVOLUTIONS[route])
    assert [words for words, _ in checks.forbidden_calls(names, ("convolution",))] == [
        "a convolution routine"
    ]


def test_the_guard_sees_autograd_unfold_and_fold():
    x = X.clone().requires_grad_()
    uses = {
        "autograd": lambda: torch.autograd.grad((x * 2).sum(), x),
        "unfold": lambda: F.unfold(X, 3),
        "fold": lambda: F.fold(torch.ones(1, 9, 4), (4, 4), 3),
    }
    for capability, use in uses.items():
        assert checks.forbidden_calls(called(use), (capability,)), capability


def test_plain_work_is_not_taken_for_a_forbidden_capability():
    def by_hand():
        columns = X.reshape(2, -1)
        return np.einsum("ij,jk->ik", W.reshape(3, -1).numpy()[:, :2], columns.numpy()), columns.sum(dim=1)

    all_capabilities = tuple(checks.CAPABILITIES)
    assert checks.forbidden_calls(called(by_hand), all_capabilities) == []


def test_switching_the_guard_off_is_seen():
    import sys

    def off():
        sys.setprofile(None)
        return F.conv2d(X, W)

    assert checks.forbidden_calls(called(off), ())[0][0] == "something that switches the guard off"


# --- Plain data and the messages ------------------------------------------------------------------


class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def test_only_plain_values_cross_to_the_grader():
    assert checks.encode(AlwaysEqual(3)) == {"kind": "other", "type": "an object of type AlwaysEqual"}
    subclass = torch.ones(2).as_subclass(type("Sneaky", (torch.Tensor,), {}))
    assert checks.encode(subclass)["kind"] == "other"
    array = checks.decode(json.loads(json.dumps(checks.encode(np.arange(6, dtype=np.float32).reshape(2, 3)))))
    assert array.dtype == "float32" and array.values.shape == (2, 3) and array.values[1, 2] == 5
    assert checks.decode(checks.encode(torch.tensor(7))).values.ndim == 0


def test_a_whole_number_as_a_float_is_right_unless_the_task_asks_for_an_int():
    four = checks.decode(checks.encode(4.0))
    assert checks.problem(four, 4, checks.Rule()) is None
    assert "the task asks for a whole number as an int" in checks.problem(four, 4, checks.Rule(whole=True))


def test_float32_where_the_task_asks_for_float64_is_named():
    expected = np.linspace(0, 1, 7) / 3
    got = checks.decode(checks.encode(expected.astype(np.float32)))
    message = checks.problem(got, expected, checks.Rule(atol=1e-10, dtype="float64"))
    assert "float32" in message and "float64" in message


def test_ipython_shows_a_failed_check_as_its_sentence_alone(capsys):
    shell = InteractiveShell.instance()
    shell.run_cell("import checks\ndef window_start(i, j, stride, padding):\n    return (i, j)")
    shell.run_cell('checks.check("01", "ex1b", window_start)')
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "multiply by the stride" in text and "Traceback" not in text and "checks.py" not in text


def test_an_answer_that_changes_its_input_fails_and_the_next_check_is_untouched():
    def changes(x, w, b, k, i, j, stride, padding):
        x *= 0
        return 0.0

    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.check("01", "ex1c", changes)
    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.check("01", "ex1c", changes)  # the same message: the check's own data is fresh


# --- Scoring in the grader ----------------------------------------------------------------------

SOURCE = (
    "### BEGIN HIDDEN TESTS\nimport importlib\n\n"
    'grader = importlib.reload(importlib.import_module("checks"))\n'
    'grader.grade("01", "ex1b", window_start, seed=7)\n### END HIDDEN TESTS\n'
    'checks.check("01", "ex1b", window_start)'
)


def check_cell(*outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(SOURCE, outputs=list(outputs))
    cell.metadata.nbgrader = {"grade": True, "solution": False, "locked": True, "points": 6, "grade_id": "c"}
    return cell


def published(function) -> nbformat.NotebookNode:
    payload = json.dumps(checks.results("01", "ex1b", function, 7))
    return nbformat.v4.new_output("display_data", data={checks.MIME: payload, "text/plain": "results"})


def scored(cell) -> tuple[float, float]:
    scoring.ScoreInTheGrader().preprocess_cell(cell, {}, 0)
    return determine_grade(cell)


def test_the_grader_scores_right_results_and_nothing_the_kernel_printed():
    error = nbformat.v4.new_output("error", ename="CheckFailed", evalue="visible check failed", traceback=[])
    cell = check_cell(published(lambda i, j, s, p: (i * s, j * s)), error)
    assert scored(cell) == (6, 6)
    assert [o.output_type for o in cell.outputs] == ["stream"]


def test_a_wrong_missing_or_doubled_result_scores_zero_whatever_else_the_kernel_shows():
    tick = nbformat.v4.new_output("stream", name="stdout", text="\N{CHECK MARK} window_start: correct\n")
    wrong = published(lambda i, j, s, p: (i, j))
    right = published(lambda i, j, s, p: (i * s, j * s))
    forged = nbformat.v4.new_output("display_data", data={checks.MIME: '{"outcomes": []}'})
    for outputs in ([wrong, tick], [tick], [right, right], [forged]):
        cell = check_cell(*outputs)
        assert scored(cell) == (0, 6), outputs
        assert cell.outputs[0].output_type == "error"


def test_the_grading_settings_score_in_the_grader_and_hide_the_hidden_tests():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    steps = [step.__name__ for step in config.Autograde.autograde_preprocessors]
    assert steps.index("ScoreInTheGrader") == steps.index("StderrIsNotAFailure") + 1
    assert steps.index("ScoreInTheGrader") < steps.index("SaveAutoGrades")
    assert "HideHiddenTests" in [step.__name__ for step in config.GenerateFeedback.preprocessors]
    # The checker is read-only in the sandbox, as utils.py is (the helper files, by default).
    from tools.grading.sandbox import SandboxedKernelManager

    assert "checks.py" in SandboxedKernelManager(config=config).read_only


def test_the_feedback_shows_a_note_where_the_hidden_tests_were():
    cell = check_cell()
    scoring.HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert "grader.grade" not in cell.source and scoring.HIDDEN_NOTE in cell.source
    assert cell.source.endswith('checks.check("01", "ex1b", window_start)')


# --- Flags --------------------------------------------------------------------------------------

ATTEMPTS = {
    "sys.setprofile(None)": "touches the guard",
    "threading.settrace(f)": "touches the guard",
    "from torch.utils._python_dispatch import _pop_mode": "imports from the guard's ground",
    "torch._C._DisableTorchDispatch()": "touches the guard",
    "frame = sys._getframe(1)": "touches the guard",
    "frame = inspect.currentframe().f_back": "touches the guard",
    'get_ipython().events.register("post_run_cell", hook)': "touches the guard",
    "get_ipython().input_transformers_post.append(rewrite)": "touches the guard",
    "get_ipython().display_pub.publish = fake": "touches the guard",
    "get_ipython().set_custom_exc((Exception,), quiet)": "touches the guard",
    "checks.grade = lambda *args, **kwargs: None": "assigns to checks.grade",
    'sys.modules["checks"] = fake': "assigns to sys.modules",
    f'display({{"{checks.MIME}": forged}}, raw=True)': "results' type",
    'getattr(sys, "setprofile")(None)': "names the guard",
}


@pytest.mark.parametrize("code", ATTEMPTS, ids=list(ATTEMPTS))
def test_each_attempt_on_the_guard_is_flagged(code):
    reasons = [reason for _, reason in flags.suspicious_lines(code)]
    assert any(ATTEMPTS[code] in reason for reason in reasons), reasons


def test_an_honest_answer_is_not_flagged():
    honest = "def conv(x, w):\n    cols = F.unfold(x, w.shape[2:])\n    return w.reshape(len(w), -1) @ cols\n"
    assert flags.suspicious_lines(honest) == []

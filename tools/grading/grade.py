"""Grade a whole class, several students at once: what `make autograde JOBS=N` runs.

    python -m tools.grading.grade conv-im2col --course course --jobs 2 [--force] [--unsafe]
        [--db-url postgresql://...] [--scheduler tcp://host:8786]

Each student is one task on Dask distributed (a LocalCluster of N worker processes here, or the
cluster behind --scheduler). A task runs nbgrader's own `autograde` and `generate_feedback` for
that student against a private SQLite gradebook in a local temporary folder (a copy of the
assignment's cells, made once per run) and writes the autograded notebooks and the feedback to a
staging folder, `course/.grading/<student>/`. Its kernels talk over socket files in their own
folder, so parallel kernels share no port.

Before nbgrader sees a submission, a task checks it (``check_submission``): only regular files
named like the assignment's notebooks (and nbgrader's ``timestamp.txt`` and
``submission_secret.txt``) are copied, without
following links, into the staging folder that nbgrader grades from; anything else (a link, a
folder, another file) is refused and named in the summary. A student ID outside ``STUDENT_ID``
is not graded. A notebook whose kernel had to be stopped (``Execute``, nbgrader_config.py) is
named in the summary too: its remaining cells scored zero, the others were graded.

This process is the gradebook's only writer: when a task ends it copies that student's scores
into the course's gradebook (SQLite in course/, or nbgrader's CourseDirectory.db_url, e.g.
PostgreSQL) and then moves the notebooks and the feedback into course/autograded/ and
course/feedback/. A student counts as graded when course/autograded/<student>/<assignment>
exists (as for nbgrader), so a task that dies half-way leaves nothing half-written, and the
student is graded on the next run. Grades and per-cell scores are the same for any N: every
task runs the same nbgrader steps on one student, alone in its folders.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from tools.grading import flags, sandbox
from tools.grading.collect import STUDENT_ID
from tools.series import ROOT, kernel_config

# nbgrader's Gradebook under SQLAlchemy 2 warns about its own way of adding submissions.
QUIET = {"message": "Object of type <Submitted", "category": Warning}
STAGING = ".grading"  # course/.grading/<student>/: a task's output until it is recorded
MAX_NOTEBOOK_BYTES = 64 * 2**20  # a submitted notebook larger than this is refused
# nbgrader's own small files in a submission: when it was collected, and (nbgrader's exchange,
# on a JupyterHub) the secret that names the student's feedback for release_feedback.
RECORDS = {"timestamp.txt": 100, "submission_secret.txt": 200}  # name -> most bytes
# The tables that describe an assignment (not its submissions), parents first.
ASSIGNMENT_TABLES = ["course", "assignment", "notebook", "base_cell", "grade_cells", "solution_cells",
                     "task_cells", "source_cell"]  # fmt: skip


@dataclass
class Result:
    """What a task hands back: one student's scores, how long each step took, or why it failed."""

    student: str
    ok: bool = False
    reason: str = ""
    log: str = ""
    timestamp: object = None
    # notebook -> grade_id -> (auto_score, needs_manual_grade); notebook -> grade_id -> auto_comment
    grades: dict = field(default_factory=dict)
    comments: dict = field(default_factory=dict)
    penalties: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)  # kernel start, execution, autograde, feedback, ...
    refused: list = field(default_factory=list)  # files of the submission not graded, with why
    stopped: list = field(default_factory=list)  # notebooks whose kernel was stopped, with why


# --- In a worker: grade one student ----------------------------------------------------------


def load_config(config_file: Path, course: Path, db_url: str | None):
    """nbgrader_config.py, pointed at this course folder (and gradebook)."""
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    config.CourseDirectory.root = str(course)
    if db_url:
        config.CourseDirectory.db_url = db_url
    return config


def _timed_execute(config, seconds: dict) -> None:
    """Add up, over a student's notebooks, the time to start a kernel and to run the cells.

    A step just before nbgrader's Execute marks when a kernel is asked for; nbclient's own hook
    `on_notebook_start` says when it is ready; a step just after marks the end of the run
    (kernel stopped).
    """
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor

    marks = {}

    class KernelAsked(NbGraderPreprocessor):
        def preprocess(self, nb, resources):
            marks["asked"] = time.perf_counter()
            return nb, resources

    def ready(**_) -> None:
        marks["ready"] = time.perf_counter()
        seconds["kernel start"] = seconds.get("kernel start", 0.0) + marks["ready"] - marks["asked"]

    class Executed(NbGraderPreprocessor):
        def preprocess(self, nb, resources):
            seconds["execution"] = seconds.get("execution", 0.0) + time.perf_counter() - marks["ready"]
            return nb, resources

    steps = list(config.Autograde.autograde_preprocessors)
    execute = next(i for i, step in enumerate(steps) if issubclass(step, Execute))
    steps[execute : execute + 1] = [KernelAsked, steps[execute], Executed]
    config.Autograde.autograde_preprocessors = steps
    config.Execute.on_notebook_start = ready


def _reason(log: str, error: str) -> str:
    """The one line that says why nbgrader could not grade a submission."""
    lines = [line.strip() for line in (error + "\n" + log).splitlines()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b.*:", line)]
    return raised[-1] if raised else next((line for line in reversed(lines) if line), "unknown error")


def _why_refused(entry: os.DirEntry, notebooks: set[str]) -> str | None:
    """Why a file of a submitted folder is not graded, or None if it is one of ``notebooks``."""
    if entry.is_symlink():
        return "a symbolic link"
    if entry.is_dir(follow_symlinks=False):
        return "a folder"
    if not entry.is_file(follow_symlinks=False):
        return "not a regular file"
    if entry.name not in notebooks and entry.name not in RECORDS:
        return "not a notebook of the assignment"
    limit = RECORDS.get(entry.name, MAX_NOTEBOOK_BYTES)
    if entry.stat(follow_symlinks=False).st_size > limit:
        return f"larger than {limit:,} bytes"
    return None


def check_submission(submitted: Path, notebooks: set[str], into: Path) -> list[str]:
    """Copy the files of ``submitted`` that may be graded (regular files named in ``notebooks``,
    and nbgrader's ``RECORDS``) into ``into``, never following a link; return the others, each
    with why it was refused."""
    into.mkdir(parents=True)
    if submitted.is_symlink() or submitted.parent.is_symlink() or not submitted.is_dir():
        return [f"{submitted.name} (not a folder: a link or a file)"]
    refused = []
    for entry in sorted(os.scandir(submitted), key=lambda e: e.name):
        why = _why_refused(entry, notebooks)
        if why:
            refused.append(f"{entry.name} ({why})")
            continue
        descriptor = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(descriptor, "rb") as source, open(into / entry.name, "wb") as copy:
            shutil.copyfileobj(source, copy)
    return refused


def stopped_kernels(autograded: Path) -> list[str]:
    """The notebooks in ``autograded`` whose kernel the grader had to stop, with the reason."""
    import nbformat

    from tools.grading.execute import STOPPED

    found = []
    for path in sorted(autograded.glob("*.ipynb")):
        outputs = [o for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
        reasons = [o.evalue for o in outputs if o.output_type == "error" and o.ename == STOPPED]
        if reasons:
            found.append(f"{path.stem}: {reasons[0]}")
    return found


def grade_student(
    student: str, assignment: str, course: str, config_file: str, template: bytes, sandboxed: bool
) -> Result:
    """Autograde one student and write their feedback, in course/.grading/<student>/ (a task)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    warnings.filterwarnings("ignore", **QUIET)
    started = time.perf_counter()
    result = Result(student)
    course_path = Path(course)
    staging = course_path / STAGING / student
    shutil.rmtree(staging, ignore_errors=True)  # what a dead task left behind
    staging.mkdir(parents=True)
    notebooks = {p.name for p in (course_path / "source" / assignment).glob("*.ipynb")}
    submitted = course_path / "submitted" / student / assignment
    result.refused = check_submission(submitted, notebooks, staging / "submitted" / student / assignment)
    if not any((staging / "submitted" / student / assignment).glob("*.ipynb")):
        result.reason = "no notebook of the assignment to grade"
        return result
    with tempfile.TemporaryDirectory(prefix="grade-") as scratch:
        private = Path(scratch) / "gradebook.db"
        private.write_bytes(template)
        # nbgrader_config.py runs every kernel in a sandbox, unless UNSAFE_GRADING=1.
        os.environ["UNSAFE_GRADING"] = "0" if sandboxed else "1"
        config = load_config(Path(config_file), course_path, f"sqlite:///{private}")
        config.CourseDirectory.autograded_directory = f"{STAGING}/{student}/autograded"
        config.CourseDirectory.feedback_directory = f"{STAGING}/{student}/feedback"
        config.CourseDirectory.submitted_directory = f"{STAGING}/{student}/submitted"  # checked
        # Kernels talk over socket files, so no port can collide: a sandboxed kernel in its
        # sandbox's folder (tools/grading/sandbox.py), an unsandboxed one (--unsafe) in this task's.
        config.merge(kernel_config(Path(scratch)))
        _timed_execute(config, result.seconds)
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result.seconds["set-up"] = time.perf_counter() - started

        mark = time.perf_counter()
        graded = api.autograde(assignment, student, force=True, create=True)
        result.seconds["autograde"] = time.perf_counter() - mark
        result.log = graded.get("log", "")
        result.ok = graded["success"]
        if result.ok:
            mark = time.perf_counter()
            feedback = api.generate_feedback(assignment, student, force=True)
            result.seconds["feedback"] = time.perf_counter() - mark
            result.log += feedback.get("log", "")
            if not feedback["success"]:
                result.ok, graded = False, feedback
        if not result.ok:
            result.reason = _reason(graded.get("log", ""), graded.get("error") or "")
        result.stopped = stopped_kernels(staging / "autograded" / student / assignment)

        with Gradebook(f"sqlite:///{private}") as gb:
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:  # nbgrader failed before it recorded the submission
                submission = None
            if submission is not None:
                result.timestamp = submission.timestamp
                for notebook in submission.notebooks:
                    name = notebook.name
                    result.grades[name] = {
                        g.name: (g.auto_score, g.needs_manual_grade) for g in notebook.grades
                    }
                    result.comments[name] = {c.name: c.auto_comment for c in notebook.comments}
                    result.penalties[name] = notebook.late_submission_penalty
    result.seconds["task"] = time.perf_counter() - started
    return result


# --- In this process: the one writer of the gradebook ---------------------------------------


def assignment_template(db_url: str, assignment: str) -> bytes:
    """A SQLite gradebook holding only the assignment's notebooks and cells (from the course's)."""
    from nbgrader.api import Base, Gradebook, MissingEntry
    from sqlalchemy import create_engine, select, text

    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(
                f"No assignment {assignment!r} in the gradebook {db_url}: run make assignment first"
            ) from None
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "template.db"
        source, target = create_engine(db_url), create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(target)  # nbgrader's schema
        with source.connect() as read, target.begin() as write:
            # The course's schema version, as nbgrader records it. (A new Gradebook would ask
            # `alembic heads` in a subprocess, 4 s of imports, for the same value.)
            version = read.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            write.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            write.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
            for name in ASSIGNMENT_TABLES:
                table = Base.metadata.tables[name]
                rows = [dict(row._mapping) for row in read.execute(select(table))]
                if rows:
                    write.execute(table.insert(), rows)
        source.dispose()
        target.dispose()
        return path.read_bytes()


def record(db_url: str, assignment: str, result: Result) -> float:
    """Write one student's scores into the course's gradebook; return the seconds it took."""
    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", **QUIET)
    start = time.perf_counter()
    if not result.grades:  # the task died, or nbgrader recorded nothing: nothing to write
        return 0.0
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(result.student)
        submission = gb.update_or_create_submission(assignment, result.student, timestamp=result.timestamp)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                auto_score, needs_manual = result.grades[notebook.name][grade.name]
                grade.auto_score = auto_score
                # As nbgrader: a grader's earlier manual score needs a look after a regrade.
                grade.needs_manual_grade = needs_manual or grade.manual_score is not None
            for comment in notebook.comments:
                comment.auto_comment = result.comments[notebook.name][comment.name]
            notebook.late_submission_penalty = result.penalties[notebook.name]
        gb.db.commit()
    return time.perf_counter() - start


def move_into_place(course: Path, assignment: str, student: str) -> None:
    """Replace the student's autograded notebooks and feedback by the ones just made."""
    staging = course / STAGING / student
    for step in ("autograded", "feedback"):
        made = staging / step / student / assignment
        final = course / step / student / assignment
        if final.exists():
            shutil.rmtree(final)
        if made.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            made.rename(final)
    shutil.rmtree(staging)


def students_to_grade(course: Path, assignment: str, force: bool) -> list[str]:
    """Every student with a submission; without --force, only those not autograded yet."""
    submitted = sorted(p.parent.name for p in (course / "submitted").glob(f"*/{assignment}") if p.is_dir())
    return [s for s in submitted if force or not (course / "autograded" / s / assignment).exists()]


def connect(jobs: int, scheduler: str | None):
    """A Dask client: on the given scheduler, or on a LocalCluster of `jobs` worker processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler)
    # A task whose worker dies is reported, not retried: a submission that kills its worker
    # (say, by exhausting memory) would kill the next one too. The next run grades it again.
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    cluster = LocalCluster(
        n_workers=jobs,
        threads_per_worker=1,  # one student at a time per worker process
        processes=True,
        memory_limit=0,  # kernels are separate processes: limits belong to their sandbox
        dashboard_address=":0",  # any free port: never collides with another run
        silence_logs=logging.ERROR,
    )
    return Client(cluster)


def grade_all(
    client,
    students: list[str],
    template: bytes,
    *,
    assignment: str,
    course: Path,
    config_file: Path,
    db_url: str,
    sandboxed: bool,
) -> list[Result]:
    """Grade every student of ``assignment`` as a task on ``client`` (nbgrader's settings from
    ``config_file``, the assignment's gradebook ``template``); record each result in ``db_url`` as
    it comes in. Progress on stderr."""
    from distributed import wait
    from tqdm import tqdm

    template = client.scatter(template, broadcast=True)  # sent to each worker once
    futures = {}
    for student in students:
        future = client.submit(
            grade_student, student, assignment, str(course), str(config_file.resolve()),
            template, sandboxed, key=f"grade-{student}", pure=False,
        )  # fmt: skip
        futures[future] = student
    results = []
    with tqdm(total=len(students), unit="submission", desc="grading", file=sys.stderr) as bar:
        while futures:
            try:
                wait(list(futures), timeout=2, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            for future in [f for f in futures if f.done()]:
                student = futures.pop(future)
                try:
                    result = future.result()
                except Exception as error:  # the task itself died (e.g. its worker was killed)
                    result = Result(student, reason=f"{type(error).__name__}: {error}".strip())
                result.seconds["database"] = record(db_url, assignment, result)
                if result.ok:
                    move_into_place(course, assignment, student)
                else:
                    tqdm.write(result.log, file=sys.stderr)
                results.append(result)
                bar.update()
            running = sorted(
                key.removeprefix("grade-") for keys in client.processing().values() for key in keys
            )
            postfix = ", ".join(running[:4]) + (" ..." if len(running) > 4 else "")
            if postfix != bar.postfix:  # redraw only when it changes (a log gets one line each)
                bar.set_postfix_str(postfix)
    return results


# grades.csv's columns, as nbgrader's CSV export names them.
GRADES_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                  "raw_score", "late_submission_penalty", "score", "max_score"]  # fmt: skip


def grade_rows(gb) -> list[dict]:
    """One row per assignment and student, as nbgrader's CSV export makes it (0 if not handed in)."""
    from nbgrader.api import MissingEntry

    rows = []
    for assignment in gb.assignments:
        for student in gb.students:
            row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                   "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
                   "max_score": assignment.max_score}  # fmt: skip
            try:
                submission = gb.find_submission(assignment.name, student.id)
            except MissingEntry:
                row |= {"timestamp": "", "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0}
            else:
                penalty, raw = submission.late_submission_penalty, submission.score
                row |= {"timestamp": submission.timestamp, "raw_score": raw,
                        "late_submission_penalty": penalty, "score": max(0.0, raw - penalty)}  # fmt: skip
            rows.append({key: "" if value is None else str(value) for key, value in row.items()})
    return rows


def export_grades(db_url: str, to: Path) -> None:
    """course/grades.csv: nbgrader's columns and rows, written by the csv module (quoted where a
    field needs it: nbgrader's own export joins fields with commas as they are)."""
    import csv

    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        rows = grade_rows(gb)
    with to.open("w", newline="") as file:
        writer = csv.DictWriter(file, GRADES_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=ROOT / "course")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="students at once (default: cores)")
    parser.add_argument("--force", action="store_true", help="grade every submission again")
    parser.add_argument("--unsafe", action="store_true", help="grade without the sandbox (warned)")
    parser.add_argument(
        "--db-url", help="the gradebook (default: nbgrader_config.py's, SQLite in the course)"
    )
    parser.add_argument("--scheduler", help="a Dask scheduler's address (default: a LocalCluster here)")
    parser.add_argument("--config", type=Path, default=ROOT / "nbgrader_config.py")
    parser.add_argument("--timings", type=Path, help="write each student's step times here (JSON)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    course = args.course.resolve()
    # nbgrader runs `alembic` (to stamp a new gradebook) from the environment it runs in.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    started = time.perf_counter()

    from nbgrader.coursedir import CourseDirectory

    sandboxed = not args.unsafe
    if sandboxed:
        sandbox.exit_if_unavailable()  # stops here, naming what to install, before grading anyone
    config = load_config(args.config, course, args.db_url)
    db_url = CourseDirectory(config=config).db_url
    students = students_to_grade(course, args.assignment, args.force)
    bad_ids = [s for s in students if not STUDENT_ID.fullmatch(s)]
    students = [s for s in students if s not in bad_ids]
    for student in students:  # from now on, "graded" means graded by this run (see move_into_place)
        shutil.rmtree(course / "autograded" / student / args.assignment, ignore_errors=True)

    results: list[Result] = []
    phases = {}  # the fixed costs of a run, paid once whatever the number of students
    if students:
        template = assignment_template(db_url, args.assignment)
        client = connect(args.jobs, args.scheduler)
        phases["start-up"] = time.perf_counter() - started
        try:
            results = grade_all(
                client, students, template, assignment=args.assignment, course=course,
                config_file=args.config, db_url=db_url, sandboxed=sandboxed,
            )  # fmt: skip
        finally:
            client.close()
            if client.cluster is not None:
                client.cluster.close()
        phases["grading"] = time.perf_counter() - started - phases["start-up"]
        staging = course / STAGING  # what is left there belongs to failed tasks
        if staging.exists() and not any(staging.iterdir()):
            staging.rmdir()
    mark = time.perf_counter()
    export_grades(db_url, course / "grades.csv")
    flagged = flags.write_flags(course, args.assignment)
    phases["export"] = time.perf_counter() - mark
    if args.timings:
        import json

        timings = {"run": phases, "submissions": {r.student: r.seconds for r in results}}
        args.timings.write_text(json.dumps(timings, indent=1))

    elapsed = time.perf_counter() - started
    results += [Result(s, reason=f"student ID not graded: only {STUDENT_ID.pattern} is") for s in bad_ids]
    failed = sorted((r for r in results if not r.ok), key=lambda r: r.student)
    print(f"\nGraded {len(results) - len(failed)} of {len(results)} submissions of {args.assignment} "
          f"in {elapsed:.0f} s with {args.jobs if not args.scheduler else args.scheduler} "
          f"({len(results) / elapsed * 60:.1f} per minute); gradebook: {db_url}")  # fmt: skip
    print("  " + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in phases.items()))
    for result in failed:
        name = result.student if STUDENT_ID.fullmatch(result.student) else repr(result.student)
        print(f"  FAILED {name}: {result.reason}")
    for result in sorted(results, key=lambda r: r.student):
        if result.refused:
            print(f"  REFUSED in {result.student}'s submission: {', '.join(result.refused)}")
        for stopped in result.stopped:
            print(f"  STOPPED {result.student}, {stopped}")
    print(flags.summary(flagged, course / "flags.csv"))
    if not sandboxed:
        print("WARNING: graded WITHOUT the sandbox: student code ran with your rights.")
    print(f"Feedback: {course / 'feedback'}; grades: {course / 'grades.csv'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

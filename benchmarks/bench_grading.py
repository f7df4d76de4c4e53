"""How fast a class is graded: `make bench-grading` (N=4 submissions by default).

Builds the assignment in build/bench-grading/course, plants N whole submissions of the series
(in turn: right, blank, partly right (the first answer of each notebook left blank), an endless
loop in one answer), grades them with tools/grading/grade.py at JOBS=1, 2, ... up to the number of cores,
and prints submissions per minute for each, the time of JOBS=N over JOBS=1, the mean time of a
submission's steps (kernel start, execution, feedback, database) and, for reference, the time
its notebooks take to run headless. It fails if the grades differ between runs.

Other programs on the machine slow the runs down: compare the ratios of one run, not times
across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

import nbformat
from nbgrader.api import Gradebook

from tools.markup import is_solution, without_solution_markers
from tools.project import ASSIGNMENT
from tools.series import ROOT, execute, notebook_paths

KINDS = ["right", "blank", "partly", "loops"]
STEPS = ["kernel start", "execution", "autograde", "feedback", "database", "task"]


def plant(course: Path, count: int) -> dict[str, str]:
    """student -> kind, for `count` students; each hands in all five notebooks."""
    students = {f"{KINDS[i % len(KINDS)]}-{i:03d}": KINDS[i % len(KINDS)] for i in range(count)}
    for student, kind in students.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        for number, path in enumerate(notebook_paths()):
            source = nbformat.read(course / "source" / ASSIGNMENT / path.name, as_version=4)
            nb = nbformat.read(course / "release" / ASSIGNMENT / path.name, as_version=4)
            answers = [i for i, c in enumerate(nb.cells) if is_solution(c)]
            for n, index in enumerate(answers):
                if kind == "loops" and number == 0 and n == 0:
                    nb.cells[index].source = "while True:\n    pass"
                elif kind == "right" or kind == "loops" or (kind == "partly" and n > 0):
                    nb.cells[index].source = without_solution_markers(source.cells[index].source)
            nbformat.write(nb, folder / path.name)
    return students


def scores(course: Path) -> dict:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            (s.id, nb.name): sorted((g.name, g.auto_score) for g in nb.grades)
            for s in gb.students
            for sub in s.submissions
            for nb in sub.notebooks
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--submissions", type=int, default=4)
    parser.add_argument("--max-jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    build = ROOT / "build" / "bench-grading"
    course = build / "course"
    subprocess.run(["rm", "-rf", str(course)], check=True)
    make = ["make", "-o", ".venv/installed", "assignment", f"COURSE={course}"]
    subprocess.run(make, cwd=ROOT, check=True, capture_output=True)
    students = plant(course, args.submissions)
    print(f"{len(students)} submissions: {', '.join(sorted(students))}")

    runs, reference = {}, None
    for jobs in range(1, args.max_jobs + 1):
        timings = build / f"timings-jobs{jobs}.json"
        command = [sys.executable, "-m", "tools.grading.grade", ASSIGNMENT, "--course", str(course)]
        command += ["--jobs", str(jobs)]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--force", "--timings", str(timings)], cwd=ROOT, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            return 1
        graded = scores(course)
        reference = reference or graded
        agree = graded == reference
        runs[jobs] = (seconds, json.loads(timings.read_text())["submissions"], agree)
        print(f"JOBS={jobs}: {seconds:.0f} s, grades {'agree' if agree else 'DIFFER'}")

    print("\nJOBS  seconds  submissions/min  time vs JOBS=1")
    for jobs, (seconds, _, _) in runs.items():
        print(
            f"{jobs:>4}  {seconds:7.0f}  {len(students) / seconds * 60:15.2f}  {seconds / runs[1][0]:14.2f}"
        )

    print("\nMean seconds per submission, by step (autograde includes kernel start and execution)")
    print("JOBS  " + "  ".join(f"{step:>12}" for step in STEPS))
    for jobs, (_, timings, _) in runs.items():
        means = [mean(t.get(step, 0.0) for t in timings.values()) for step in STEPS]
        print(f"{jobs:>4}  " + "  ".join(f"{m:12.1f}" for m in means))

    start = time.perf_counter()
    for path in notebook_paths():
        execute(path)
    headless = time.perf_counter() - start
    right = [t["task"] for s, t in runs[1][1].items() if students[s] == "right"]
    graded = mean(right)
    print(f"\nThe series headless: {headless:.0f} s; a right submission, graded at JOBS=1: {graded:.0f} s")
    print(f"Grading a submission costs {graded / headless:.2f}x its headless run (target <= 1.3)")
    target = runs.get(2, (None,))[0]
    if target is not None:
        print(f"Target JOBS=2 <= 0.7 x JOBS=1: {target / runs[1][0]:.2f} x")
    same = all(agree for _, _, agree in runs.values())
    print("Grades agree across JOBS" if same else "GRADES DIFFER ACROSS JOBS")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

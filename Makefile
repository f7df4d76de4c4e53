# The series' commands. Each one sets up .venv first if it is missing or out of date.
#   make html   execute every notebook and build the static site
#   make test   the whole test suite
#   make lab    JupyterLab on the series
#   make bench  time the convolutions, F.conv2d too (table, targets, build/bench/*.png)
#   make bench-grading   grade N planted submissions at JOBS=1..cores (submissions/min, steps)
#   make bench-series    run the series headless (RUNS=2): each notebook's time against its budget
#   make assignment / collect / autograde   grade the series with nbgrader (docs/grading.md)
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# nbgrader runs `alembic` from the venv, so its bin/ must be on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: html test lab bench bench-grading bench-series lint lock clean assignment collect autograde

# Two sets of packages: the students' (requirements.txt: enough for make lab), and the
# maintainers' on top (requirements-dev.txt: tests, lint, the site, grading). Both install
# utils.py in editable mode (pyproject.toml), so `import utils` works from notebooks/.
#
# Then rfc3987-syntax comes out again (with lark, which only it needs). jsonschema, which every
# Jupyter and nbgrader process imports (nbformat validates notebooks with it), imports
# rfc3987-syntax when it is there, and that builds a parser for IRIs on import: 1.4 s of CPU in
# each of those processes, for one JSON Schema format ("iri") that nothing here checks
# (python-jsonschema/jsonschema#1428). jupyter-events asks for it through
# jsonschema[format-nongpl]; without it, jsonschema skips that format and nothing else.
SLOW_IMPORTS := rfc3987-syntax lark
$(VENV)/installed-students: requirements.txt constraints.txt pyproject.toml Makefile
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PYTHON) -m pip install --quiet --no-deps -e .
	$(PYTHON) -m pip uninstall --quiet --yes $(SLOW_IMPORTS)
	touch $@

$(VENV)/installed: $(VENV)/installed-students requirements-dev.txt
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(PYTHON) -m pip uninstall --quiet --yes $(SLOW_IMPORTS)
	touch $@

html: $(VENV)/installed
	$(PYTHON) -m tools.site.build

# axe-core, the accessibility engine the site's tests run in Chromium (package.json pins it).
node_modules/axe-core/axe.min.js: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: $(VENV)/installed node_modules/axe-core/axe.min.js
	$(PYTHON) -m pytest

lab: $(VENV)/installed-students
	$(VENV)/bin/jupyter lab notebooks/

bench: $(VENV)/installed
	$(PYTHON) benchmarks/bench_conv.py

bench-grading: $(VENV)/installed
	$(PYTHON) benchmarks/bench_grading.py --submissions $(or $(N),4)

bench-series: $(VENV)/installed
	$(PYTHON) benchmarks/bench_series.py --runs $(or $(RUNS),2)

lint: $(VENV)/installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

# constraints.txt: every package of .venv, pinned. constraints-students.txt: the part of it that
# requirements.txt pulls in (pip's dry run of a student's install), which the students' release
# ships as its constraints.txt. The SLOW_IMPORTS are put back while pip freezes: pip installs
# them before make takes them out, so they are pinned like every other package.
lock: $(VENV)/installed
	$(PYTHON) -m pip install --quiet $(SLOW_IMPORTS) -c constraints.txt
	{ sed -n '1,3p' constraints.txt; $(PYTHON) -m pip freeze --exclude-editable; } > constraints.new
	$(PYTHON) -m pip uninstall --quiet --yes $(SLOW_IMPORTS)
	mv constraints.new constraints.txt
	$(PYTHON) -m tools.students_constraints

# course/ is left alone: it holds the gradebook and the students' work (delete it by hand).
clean:
	rm -rf build site .pytest_cache .ruff_cache node_modules

# --- Grading with nbgrader (settings in nbgrader_config.py) -----------------------------------
# make assignment   course/source/$(ASSIGNMENT) from notebooks/, the student release without
#                   solutions in course/release/$(ASSIGNMENT), and its zip course/$(ASSIGNMENT).zip
# make collect      unpack the students' archives from course/downloaded/$(ASSIGNMENT)/archive/
#                   into course/submitted/<student>/$(ASSIGNMENT)/ (bad archives skipped, named)
# make autograde    grade every submission not graded yet (FORCE=1: all again), each student's
#                   kernels in a sandbox (UNSAFE=1: without), write each student's feedback HTML
#                   to course/feedback/, the scores to course/grades.csv, suspicious cells to
#                   course/flags.csv
COURSE ?= course
# The assignment's name: pyproject.toml's [tool.conv-im2col] assignment (its one home).
ASSIGNMENT ?= $(shell $(PYTHON) -m tools.project assignment)
NOTEBOOK_DIR ?= notebooks
NBGRADER := $(VENV)/bin/nbgrader
IN_COURSE := --CourseDirectory.root=$(abspath $(COURSE)) $(if $(DB_URL),--CourseDirectory.db_url=$(DB_URL))
# make autograde JOBS=N: students graded at once (default: one per core). DB_URL: a gradebook
# other than course/gradebook.db (e.g. PostgreSQL); SCHEDULER: a Dask cluster to grade on.

assignment: $(VENV)/installed
	$(PYTHON) -m tools.grading.course $(COURSE)/source/$(ASSIGNMENT) --notebooks $(NOTEBOOK_DIR)
	$(NBGRADER) generate_assignment $(ASSIGNMENT) --force $(IN_COURSE)
	rm -f $(COURSE)/$(ASSIGNMENT).zip
	$(PYTHON) -m zipfile -c $(COURSE)/$(ASSIGNMENT).zip $(COURSE)/release/$(ASSIGNMENT)

# tools/grading/collect.py: nbgrader's zip_collect with each archive checked on its own (one bad archive
# is skipped and named, the others collected), notebooks filed under their archive's student.
collect: $(VENV)/installed
	$(PYTHON) -m tools.grading.collect $(ASSIGNMENT) $(IN_COURSE)

# tools/grading/grade.py: every student a task, JOBS at once, each graded by nbgrader's own autograde and
# generate_feedback with every kernel in a bubblewrap sandbox (tools/grading/sandbox.py); without one,
# nobody is graded (UNSAFE=1: graded with your rights, and the summary says so). One process
# records the scores, then writes course/grades.csv and course/flags.csv. Files of a submission
# that are not its notebooks are refused, and kernels stopped for ignoring the interrupt, both
# named at the end. A submission that cannot be graded is named at the end too, and make fails.
autograde: $(VENV)/installed
	$(PYTHON) -m tools.grading.grade $(ASSIGNMENT) --course $(COURSE) $(if $(JOBS),--jobs $(JOBS)) $(if $(FORCE),--force) \
		$(if $(UNSAFE),--unsafe) $(if $(DB_URL),--db-url '$(DB_URL)') $(if $(SCHEDULER),--scheduler $(SCHEDULER))

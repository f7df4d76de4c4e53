# The series' commands. Each one sets up .venv first if it is missing or out of date.
#   make html   execute every notebook and build the static site
#   make test   the whole test suite
#   make lab    JupyterLab on the series
#   make bench  time the convolutions against F.conv2d (table, targets, build/bench/*.png)
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# nbgrader runs `alembic` from the venv, so its bin/ must be on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: html test lab bench lint lock clean

$(VENV)/installed: requirements.txt constraints.txt
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

html: $(VENV)/installed
	$(PYTHON) tools/build_site.py

test: $(VENV)/installed
	$(PYTHON) -m pytest

lab: $(VENV)/installed
	$(VENV)/bin/jupyter lab notebooks/

bench: $(VENV)/installed
	$(PYTHON) benchmarks/bench_conv.py

lint: $(VENV)/installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

lock: $(VENV)/installed
	{ sed -n '1,3p' constraints.txt; $(PYTHON) -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt

clean:
	rm -rf build site course .pytest_cache .ruff_cache

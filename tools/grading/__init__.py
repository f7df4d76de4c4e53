"""Grading the series with nbgrader: the course layout, the sandbox, the parallel grader, the
scoring, the flags, the safe collect and the sanitising (``nbgrader_config.py`` wires them in)."""

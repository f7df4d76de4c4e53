"""The series' maintainer tools: ``tools.site`` builds the static site, ``tools.grading`` grades the
series with nbgrader; the modules here serve both (``series``: find and run the notebooks).
"""

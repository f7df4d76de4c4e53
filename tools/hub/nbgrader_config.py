"""nbgrader's settings for every user of the course's hub (jupyterhub_config.py puts this folder
on JUPYTER_CONFIG_PATH): which course, and where its exchange is."""

import os

c = get_config()  # noqa: F821 (nbgrader provides it)

c.CourseDirectory.course_id = "conv-im2col"
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
# Instructors only (the hub sets it for them): their course folder, for the formgrader and the
# nbgrader commands they run.
if os.environ.get("NBGRADER_COURSE_ROOT"):
    c.CourseDirectory.root = os.environ["NBGRADER_COURSE_ROOT"]

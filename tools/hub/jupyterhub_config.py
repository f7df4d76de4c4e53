"""JupyterHub for one course of the series: instructors and students as hub users, each a user of
this machine, nbgrader's exchange between them (docs/jupyterhub.md says how to run it).

    jupyterhub -f tools/hub/jupyterhub_config.py

Set before starting (or edit the defaults below):
    COURSE_INSTRUCTORS, COURSE_STUDENTS  the users (comma-separated system user names)
    NBGRADER_EXCHANGE                    the exchange folder (default /srv/nbgrader/exchange)
    COURSE_HUB_STATE                     where the hub keeps its database and cookie secret
    COURSE_HUB_PORT                      the port it serves on (default 8000, on 127.0.0.1)
    COURSE_HUB_PYTHON                    the Python users' servers run (default: .venv's; every
                                         user must be able to run it: docs/jupyterhub.md)

Each user's server is a `jupyterhub-singleuser` (JupyterLab) of this repository's .venv, run as
that system user by the local-process spawner: a student's files are the student's, and the
only place students and instructors share is nbgrader's exchange. The Assignments tab (nbgrader's
assignment list) is on for everyone; the formgrader only for instructors, whose course folder
is ~/course.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = ROOT / ".venv"
PYTHON = Path(os.environ.get("COURSE_HUB_PYTHON", VENV / "bin" / "python"))
STATE = Path(os.environ.get("COURSE_HUB_STATE", ".")).resolve()
PORT = int(os.environ.get("COURSE_HUB_PORT", "8000"))
INSTRUCTORS = {name for name in os.environ.get("COURSE_INSTRUCTORS", "").split(",") if name}
STUDENTS = {name for name in os.environ.get("COURSE_STUDENTS", "").split(",") if name}

c = get_config()  # noqa: F821 (JupyterHub provides it)

# The hub, its proxy (configurable-http-proxy from package.json) and every server: 127.0.0.1 only.
# Put a TLS-terminating web server in front of it to serve a class (docs/jupyterhub.md).
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 1
c.ConfigurableHTTPProxy.command = [str(ROOT / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# Who may log in: the machine's users (PAM, JupyterHub's default) named here; instructors are
# the hub's admins.
c.Authenticator.allowed_users = INSTRUCTORS | STUDENTS
c.Authenticator.admin_users = INSTRUCTORS

# Each user's JupyterLab, as that system user, in their home folder.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(PYTHON), "-m", "jupyterhub.singleuser"]
c.Spawner.ip = "127.0.0.1"
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {
    # nbgrader_config.py next to this file (the course and its exchange), then the venv's
    # settings: which server and lab extensions are on (also when COURSE_HUB_PYTHON is another
    # interpreter that loads the venv's packages).
    "JUPYTER_CONFIG_PATH": f"{HERE}:{VENV / 'etc' / 'jupyter'}",
    "JUPYTER_PATH": str(VENV / "share" / "jupyter"),
    "NBGRADER_EXCHANGE": os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange"),
    "PATH": f"{PYTHON.parent}:/usr/local/bin:/usr/bin:/bin",
}
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60


# The formgrader, a server extension of nbgrader that instructors alone get.
FORMGRADER = ["--ServerApp.jpserver_extensions", "nbgrader.server_extensions.formgrader=True"]


def instructors_grade(spawner) -> None:
    """Instructors: the formgrader on, and their course folder (~/course) is nbgrader's course."""
    if spawner.user.name in INSTRUCTORS:
        home = Path(os.path.expanduser(f"~{spawner.user.name}"))
        # New objects, not edits: the configured dict and list are shared by every user's spawner.
        spawner.environment = {**spawner.environment, "NBGRADER_COURSE_ROOT": str(home / "course")}
        spawner.args = [*spawner.args, *FORMGRADER]


c.Spawner.pre_spawn_hook = instructors_grade

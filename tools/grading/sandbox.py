"""Run every kernel that nbgrader starts for grading inside a bubblewrap (`bwrap`) sandbox.

nbgrader runs a student's code with the grader's rights: without a sandbox an answer cell can
rewrite the gradebook, read the hidden tests or another student's work, reach the network and
leave processes behind. ``nbgrader_config.py`` makes nbgrader start its kernels through
``SandboxedKernelManager``. Inside the sandbox the kernel sees:

- the system (``/usr``, ``/etc``, ...) and the Python environment, read-only;
- its working folder: a private, writable copy of the regular files next to the notebook
  (links and special files are left out), without any notebook (nbgrader's copies hold the
  hidden tests); ``utils.py`` and ``data/`` are the read-only originals that nbgrader put there
  from ``course/source``;
- those originals once more, read-only, in ``/course``: the only folder of modules on its path
  before the environment's. Python starts with ``-P`` (and IPython honours it), so the working
  folder is not on the module search path: no file there, submitted or written by a cell, can replace
  ``ipykernel_launcher``, ``utils`` or any module the kernel or the checks import;
- a private ``/tmp`` and home folder, each a tmpfs of a capped size (``tmp_size``,
  ``home_size``), and nothing else of the machine: no ``course/``, no other student, no
  gradebook, no home folder of the grader;
- no network (its own network namespace, so not even the grader's loopback) and its own
  process namespace: everything it starts ends with it, and it ends with the grader process
  that started it, whenever that one ends (the lifeline, see ``Sandbox.command``);
- limits on memory, on the number of processes and threads, and on the size of a written file:
  per process (prlimit), and, where the system lets the grader make cgroups (``Cgroup``), on
  the memory (tmpfs included) and the processes of the whole sandbox.

The kernel talks to nbgrader over IPC socket files in a folder shared into the sandbox. When
the grader runs as root, the kernel runs as an unprivileged user id of its own, so that the
limits hold (root is exempt from the process limit) and it has no capabilities.

``python -m tools.grading.sandbox`` checks that sandboxes can be made here, and says what to install or
set if not (`make autograde` runs it first).
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, List, Unicode

from tools.project import HELPER_FILES

# The sandbox's home folder; the kernel works in HOME/<name of the notebook's folder>.
HOME = "/home/student"
# Where the kernel's home is prepared on the host side, read-only; copied into HOME at start.
STAGE = "/stage"
# The read-only originals (utils.py, data/) as the kernel imports them: first on its module search path.
MODULES = "/course"
# Environment variables a kernel keeps (by name or prefix); everything else is cleared, so no
# token or password of the grader's environment reaches student code.
KEPT_ENVIRONMENT = ("LANG", "LC_", "TZ", "OPENBLAS_", "OMP_", "MKL_", "NBGRADER_")
# Top-level system folders the kernel sees read-only (the ones that exist here).
SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt")


class Cgroup:
    """A cgroup for one sandbox: its memory and its number of processes, all of them together.

    cgroup v2 where the grader's own cgroup delegates the memory and pids controllers;
    otherwise cgroup v1's memory and pids hierarchies where the grader may write them (as
    root, say). ``Cgroup.create`` answers None where neither is possible: then only the
    per-process limits hold (see docs/grading.md).
    """

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, folders: list[Path]):
        self.folders = folders

    @classmethod
    def create(cls, name: str, memory: int, processes: int) -> Cgroup | None:
        """A new cgroup ``name`` limited to ``memory`` bytes and ``processes``, or None."""
        own = {}  # controller -> the grader's cgroup path
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") or [""]:
                own[controller] = path.lstrip("/")
        unified = cls.ROOT / own.get("", "")
        if (cls.ROOT / "cgroup.controllers").exists():  # cgroup v2 only (not tried here: v1 layout)
            control = unified / "cgroup.subtree_control"
            delegated = control.read_text().split() if control.exists() else []
            settings = {unified / name: {"memory.max": memory, "memory.swap.max": 0, "pids.max": processes}}
            if not {"memory", "pids"} <= set(delegated):
                return None
        else:
            settings = {
                cls.ROOT / "memory" / own.get("memory", "") / name: {"memory.limit_in_bytes": memory},
                cls.ROOT / "pids" / own.get("pids", "") / name: {"pids.max": processes},
            }
        try:
            for folder, values in settings.items():
                folder.mkdir()
                for setting, value in values.items():
                    if (folder / setting).exists():
                        (folder / setting).write_text(str(value))
        except OSError:
            cls(list(settings)).remove()
            return None
        return cls(list(settings))

    def enter(self, command: list[str]) -> list[str]:
        """``command``, run in this cgroup (its first process joins it, then becomes ``command``)."""
        joins = " && ".join(f"echo $$ > {folder / 'cgroup.procs'}" for folder in self.folders)
        return ["sh", "-c", f'{joins} && exec "$@"', "sh", *command]

    def remove(self) -> None:
        """Kill what is left in the cgroup, then remove it."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    for pid in (folder / "cgroup.procs").read_text().split():
                        os.kill(int(pid), 9)
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


class SandboxUnavailable(RuntimeError):
    """bubblewrap cannot make a sandbox on this machine; the message says how to fix it."""


def sandbox_problem() -> str | None:
    """Why no sandbox can be made here (a sentence that says what to do), or None if one can."""
    if shutil.which("bwrap") is None:
        return (
            "bwrap (bubblewrap) is not installed. Install the package 'bubblewrap' "
            "(Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)."
        )
    probe = subprocess.run(
        ["bwrap", "--ro-bind", "/", "/", *_namespaces(), "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return (
            f"bwrap cannot create namespaces here ({probe.stderr.strip()}). Allow unprivileged "
            "user namespaces: sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or "
            "user.max_user_namespaces=15000; on Ubuntu 24.04 and later also "
            "kernel.apparmor_restrict_unprivileged_userns=0."
        )
    return None


def require_sandbox() -> None:
    """Raise ``SandboxUnavailable`` with what to install or set if no sandbox can be made."""
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(f"Student code is only graded in a sandbox. {problem}")


def _namespaces() -> list[str]:
    """bwrap's options for new namespaces: all of them; a user namespace unless we are root.

    As root, bwrap makes the namespaces itself and the kernel switches to a user id of its own
    (see ``_unprivileged``); an ordinary user needs a user namespace for the rest.
    """
    shared = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    return shared if os.geteuid() == 0 else ["--unshare-user", *shared]


def _unprivileged(uid: int) -> list[str]:
    """As root: run the kernel as ``uid``, with no capabilities; an ordinary user: nothing."""
    if os.geteuid() != 0:
        return []
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


def _in_system(path: str) -> bool:
    return any(path == folder or path.startswith(folder + "/") for folder in SYSTEM)


def _with_parents(path: str, made: set[str]) -> list[str]:
    """bwrap options that create the folders above ``path``, readable by everyone (once each).

    bwrap would make them readable by root only, and the kernel may run as another user.
    """
    options = []
    for parent in map(str, reversed(Path(path).parents[:-1])):  # from the top, without "/"
        if parent not in made and not _in_system(parent):
            options += ["--perms", "0755", "--dir", parent]
            made.add(parent)
    return options


def _python_folders() -> list[str]:
    """The Python environment the kernel needs: the venv and the interpreter it was made from."""
    folders = {sys.prefix, sys.base_prefix, str(Path(os.path.realpath(sys.executable)).parents[1])}
    return sorted(folder for folder in folders if not _in_system(folder))


class Sandbox:
    """One kernel's sandbox: its private folders on the host and the bwrap command around it."""

    def __init__(self, cwd: Path, read_only: list[str]):
        self.cwd = cwd
        self.read_only = [name for name in read_only if (cwd / name).exists()]
        self.root = Path(tempfile.mkdtemp(prefix="sandbox-"))
        self.sockets = self.root / "sockets"  # shared with the kernel: its connection file and sockets
        self.home = self.root / "home"  # the kernel's home folder
        self.work = self.home / cwd.name  # the kernel's working folder
        self.uid = 100_000 + secrets.randbelow(1_000_000_000)  # used only when grading as root
        # The lifeline: a pipe whose one writer is this process (its end closes on exec, so no
        # other program inherits it); the sandbox reads the other end (see ``command``).
        self.lifeline, self._lifeline_writer = os.pipe()
        self._fill()

    def _fill(self) -> None:
        """Copy the notebook's folder (no notebooks) and matplotlib's font list into the home."""
        self.sockets.mkdir()
        copy_regular_files(self.cwd, self.work, skip={"*.ipynb", ".ipynb_checkpoints", *self.read_only})
        fonts = sorted(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))
        if fonts:  # saves the kernel building the font cache again (seconds)
            (self.home / ".cache" / "matplotlib").mkdir(parents=True)
            shutil.copy(fonts[-1], self.home / ".cache" / "matplotlib")
        self.hand_over(self.root, *self.root.rglob("*"))

    def hand_over(self, *paths: Path) -> None:
        """As root: give ``paths`` to the kernel's user id, so that the kernel can use them."""
        if os.geteuid() == 0:
            for path in paths:
                os.chown(path, self.uid, self.uid, follow_symlinks=False)

    def command(
        self, kernel: list[str], limits: list[str], environment: dict[str, str], sizes: tuple[int, int]
    ) -> list[str]:
        """``kernel`` (a command line) as it runs in the sandbox, under ``limits`` (prlimit's),
        with a ``/tmp`` and a home of ``sizes`` bytes."""
        made: set[str] = set()
        options = ["bwrap", *_namespaces(), "--die-with-parent", "--new-session", "--clearenv"]
        environment = {**environment, "PYTHONSAFEPATH": "1", "PYTHONPATH": MODULES}
        for name, value in environment.items():
            options += ["--setenv", name, value]
        for path in SYSTEM:
            if os.path.islink(path):
                options += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                options += ["--ro-bind", path, path]
        tmp_size, home_size = sizes
        options += ["--proc", "/proc", "--dev", "/dev"]
        options += ["--perms", "1777", "--size", str(tmp_size), "--tmpfs", "/tmp"]
        for folder in _python_folders():
            options += [*_with_parents(folder, made), "--ro-bind", folder, folder]
        options += [*_with_parents(HOME, made), "--perms", "1777", "--size", str(home_size), "--tmpfs", HOME]
        workdir = f"{HOME}/{self.cwd.name}"
        options += ["--perms", "0777", "--dir", workdir, "--ro-bind", str(self.home), STAGE]
        options += _with_parents(f"{MODULES}/-", made)
        for name in self.read_only:  # the originals, over the copy and where modules are found
            original = str(self.cwd / name)
            options += [
                "--ro-bind",
                original,
                f"{workdir}/{name}",
                "--ro-bind",
                original,
                f"{MODULES}/{name}",
            ]
        sockets = str(self.sockets)
        options += [*_with_parents(sockets, made), "--bind", sockets, sockets, "--chdir", workdir]
        options += ["--remount-ro", "/"]  # the sandbox's root: no new folder on the module path
        # The kernel's user copies the prepared home into the capped tmpfs, then becomes the kernel.
        # Its standard input is the lifeline (given in ``SandboxedKernelManager._async_launch_kernel``);
        # a watcher beside the kernel reads it and, when it ends, kills every process of the
        # sandbox. It ends when this process does, at whatever moment: bwrap's --die-with-parent
        # misses a grader killed while bwrap is still setting up (bubblewrap issue 633), which
        # left the sandbox running for ever.
        watcher = "(cat <&3 >/dev/null; kill -9 -1) &"
        start = [
            "sh",
            "-c",
            f'exec 3<&0 </dev/null; {watcher} cp -R {STAGE}/. {HOME}/ && exec "$@" 3<&-',
            "sh",
        ]
        return [
            *options,
            "--",
            *_unprivileged(self.uid),
            "prlimit",
            *limits,
            "--",
            *start,
            *_safe_path(kernel),
        ]

    def launched(self) -> None:
        """The kernel has started with the lifeline's reading end: this process keeps the writing end."""
        os.close(self.lifeline)

    def remove(self) -> None:
        """Cut the lifeline (the watcher stops what may be left), remove the private folders."""
        os.close(self._lifeline_writer)
        shutil.rmtree(self.root, ignore_errors=True)


def _safe_path(kernel: list[str]) -> list[str]:
    """``python -m module ...`` as ``python -P -m module ...``: the working folder off the import path."""
    if len(kernel) > 1 and kernel[1] == "-m" and Path(kernel[0]).name.startswith("python"):
        return [kernel[0], "-P", *kernel[1:]]
    return kernel


def copy_regular_files(source: Path, dest: Path, skip: set[str]) -> list[str]:
    """Copy the regular files and folders under ``source`` to ``dest``, never following a link;
    leave out names matching a pattern of ``skip``; return what was left out for not being a
    regular file or folder (links, sockets, devices), relative to ``source``."""
    left_out = []
    dest.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        if any(fnmatch.fnmatch(entry.name, pattern) for pattern in skip):
            continue
        if entry.is_dir(follow_symlinks=False):
            left_out += [
                f"{entry.name}/{name}"
                for name in copy_regular_files(Path(entry.path), dest / entry.name, skip)
            ]
        elif entry.is_file(follow_symlinks=False):
            shutil.copyfile(entry.path, dest / entry.name, follow_symlinks=False)
        else:
            left_out.append(entry.name)
    return left_out


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts each kernel in its own ``Sandbox`` (see the module's text).

    The kernel's working folder (``cwd``, nbgrader's folder of the student's notebook) is
    copied; the limits are settings (``c.SandboxedKernelManager.memory_limit`` etc.).
    """

    memory_limit = Integer(
        4 * 2**30, config=True, help="Bytes of memory a kernel may allocate (RLIMIT_DATA)."
    )
    sandbox_memory = Integer(
        5 * 2**30,
        config=True,
        help="Bytes of memory the whole sandbox may use, its tmpfs included (cgroup, where possible).",
    )
    max_processes = Integer(
        512, config=True, help="Processes and threads the kernel's user may run (RLIMIT_NPROC)."
    )
    max_file_size = Integer(
        256 * 2**20, config=True, help="Largest file in bytes the kernel may write (RLIMIT_FSIZE)."
    )
    tmp_size = Integer(512 * 2**20, config=True, help="Bytes the sandbox's /tmp may hold (a tmpfs).")
    home_size = Integer(512 * 2**20, config=True, help="Bytes the sandbox's home folder may hold (a tmpfs).")
    read_only = List(
        Unicode(),
        sorted({name.split("/")[0] for name in HELPER_FILES}),  # utils.py, checks.py, data
        config=True,
        help="Files and folders next to the notebook that the kernel sees read-only (the originals).",
    )

    _sandbox: Sandbox | None = None
    _cgroup: Cgroup | None = None

    async def _async_pre_start_kernel(self, **kw):
        require_sandbox()
        cwd = Path(kw.get("cwd") or os.getcwd()).resolve()
        self._sandbox = Sandbox(cwd, list(self.read_only))
        name = self._sandbox.root.name
        self._cgroup = Cgroup.create(name, self.sandbox_memory, self.max_processes)
        # IPC socket files in the shared folder: TCP on loopback does not cross the network namespace.
        self.transport = "ipc"
        self.ip = str(self._sandbox.sockets / "kernel")
        self.connection_file = str(self._sandbox.sockets / "kernel.json")
        # Interrupt through the kernel's control channel: the kernel runs in a session of its own.
        self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        try:  # the sandbox's standard input is its lifeline (``Sandbox.command``)
            await super()._async_launch_kernel(kernel_cmd, **kw | {"stdin": self._sandbox.lifeline})
        finally:
            self._sandbox.launched()

    def write_connection_file(self, **kwargs) -> None:
        super().write_connection_file(**kwargs)
        if self._sandbox is not None:
            self._sandbox.hand_over(Path(self.connection_file))

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel = super().format_kernel_cmd(extra_arguments)
        limits = [
            f"--data={self.memory_limit}",
            f"--nproc={self.max_processes}",
            f"--fsize={self.max_file_size}",
        ]
        environment = {
            name: value
            for name, value in os.environ.items()
            if any(name == kept or name.startswith(kept) and kept.endswith("_") for kept in KEPT_ENVIRONMENT)
        }
        # JPY_PARENT_PID=1: the kernel's parent is the sandbox's first process, and ends with it.
        path = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
        environment |= {"JPY_PARENT_PID": "1", "HOME": HOME, "PATH": path}
        command = self._sandbox.command(kernel, limits, environment, (self.tmp_size, self.home_size))
        return self._cgroup.enter(command) if self._cgroup else command

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._sandbox is not None:
            self._sandbox.remove()
            self._sandbox = None


def exit_if_unavailable() -> None:
    """Stop the program, saying what to install or set, if no sandbox can be made here."""
    problem = sandbox_problem()
    if problem:
        sys.exit(f"Cannot grade safely: {problem}\n(make autograde UNSAFE=1 grades without a sandbox.)")


def main() -> None:
    exit_if_unavailable()
    print("bubblewrap sandbox: available")
    probe = Cgroup.create(f"sandbox-probe-{os.getpid()}", 2**30, 64)
    if probe:
        print("limits for the whole sandbox (cgroup):", ", ".join(str(f) for f in probe.folders))
        probe.remove()
    else:
        print("no cgroup can be made here: memory and processes are limited per process only")


if __name__ == "__main__":
    main()

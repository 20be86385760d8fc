"""Run untrusted programs: a separate process, sandboxed, with hard limits, killed from outside.

Threat model: the program was written by a policy optimised to make tests pass, and may be hostile: it can
try to fork-bomb, exhaust memory, loop forever, ignore SIGTERM, flood output, kill its parent, write
outside its folder, open network connections, or read the tests, the command line and the environment.

With bubblewrap (`bwrap`, installed by `make setup`), each run gets:
  - its own user, PID, IPC, UTS, cgroup and network namespaces: no network at all (not even the host's
    loopback), no view of host processes, so nothing outside can be signalled. The program is the PID
    namespace's init (`--as-pid-1`): with bubblewrap's own init in between, each run left a zombie that a
    slow-reaping host init (as on this machine's VM) counted against the sandbox uid's process limit;
  - a read-only view of the system's programs and libraries only (/usr, /etc, /bin, /lib...: not the
    project, its datasets or home folders), and a private `/tmp` holding its writable work folder
    (`/tmp/sandbox`);
  - an unprivileged uid (65534) and rlimits: CPU seconds, address space, processes, open files, file size
    (which also caps stdout/stderr, written to files outside the sandbox), no core dumps;
  - a cleared environment and a new session (no terminal to inject into);
  - a wall-clock limit enforced by the parent: at the deadline the whole process group is SIGKILLed,
    and bwrap's --die-with-parent takes the PID namespace, and every process in it, down with it.
Without bubblewrap (`Sandbox.isolated` is False) only the rlimits, the uid drop (when run as root), the
private work folder as cwd, the cleared environment and the wall-clock kill apply: the program can then
read the host filesystem, reach the network and see other processes. The code verifier reports which
mode ran.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NOBODY = 65534
_BUSY = b"Resource temporarily unavailable"


@dataclass(frozen=True)
class Limits:
    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 1024
    processes: int = 64
    open_files: int = 64
    file_size_mb: int = 8  # any file the program writes, stdout and stderr included
    output_bytes: int = 1 << 20  # what the caller reads back of stdout and stderr


@dataclass
class RunResult:
    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float
    isolated: bool


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """True if bubblewrap exists and can create the namespaces on this machine."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        proc = subprocess.run(_bwrap_prefix(exe, Path("/tmp")) + ["true"], capture_output=True, timeout=10,
                              preexec_fn=_drop_privileges)
        return proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# What the program sees of the host, read-only: the system's programs and libraries, nothing else. Home
# folders, the project, its datasets (expected outputs included) and /opt, /srv, /var stay out of view.
SYSTEM_PATHS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _host_view(extra: tuple[str, ...] = ()) -> list[str]:
    args = []
    for path in SYSTEM_PATHS:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in extra:
        args += ["--ro-bind", path, path]
    return args


def _bwrap_prefix(exe: str, workdir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        exe, *_host_view(extra), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--bind", str(workdir), "/tmp/sandbox", "--chdir", "/tmp/sandbox",
        "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--clearenv",
        "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp/sandbox",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--",
    ]


def _drop_privileges() -> None:
    if os.getuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _limit(limits: Limits):
    def apply() -> None:
        os.setsid()  # its own process group, so the parent can kill everything it started
        _drop_privileges()
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


class IsolationRequired(RuntimeError):
    """A kind of check that is only safe under bubblewrap was asked for where bubblewrap cannot run."""


class Sandbox:
    def __init__(self, limits: Limits = Limits(), *, use_bwrap: bool | None = None, ro_paths: tuple[str, ...] = (),
                 allow_unisolated: bool = False):
        """ro_paths: host folders the program needs beyond SYSTEM_PATHS (a toolchain under a home folder),
        shown read-only. allow_unisolated: the explicit opt-in to run checks that need isolation
        (`require_isolation`) under the rlimits-only fallback anyway."""
        self.limits, self.ro_paths = limits, tuple(str(Path(p).resolve()) for p in ro_paths)
        self.isolated = bwrap_works() if use_bwrap is None else (use_bwrap and bwrap_works())
        self.allow_unisolated = allow_unisolated

    def require_isolation(self, what: str) -> None:
        """Refuse `what` (e.g. "assert-style checks") under the fallback unless the caller opted in."""
        if not self.isolated and not self.allow_unisolated:
            raise IsolationRequired(
                f"{what} need bubblewrap isolation, which is not available here (install bubblewrap: `make setup`); "
                "pass allow_unisolated=True to run them under the rlimits-only fallback, which cannot keep a "
                "hostile program from reading the host or other runs")

    def run(self, argv: list[str], *, files: dict[str, str] | None = None, stdin: bytes = b"") -> RunResult:
        """Run argv in a fresh work folder holding `files`; stdin is fed from a file, never a pipe."""
        for attempt in range(8):
            result = self._run_once(argv, files=files, stdin=stdin)
            # Namespaces and processes of runs that just ended are released asynchronously, and the sandbox
            # uid's process limit is shared by concurrent runs: bubblewrap's own clone/fork can fail for a
            # moment (EAGAIN) before the program starts. That is not the program's failure: try again.
            busy = result.stderr.startswith(b"bwrap: ") and _BUSY in result.stderr.split(b"\n", 1)[0]
            if not (self.isolated and result.returncode == 1 and busy):
                return result
            time.sleep(0.02 * 2**attempt)
        return result

    def _run_once(self, argv: list[str], *, files: dict[str, str] | None, stdin: bytes) -> RunResult:
        base = Path(tempfile.mkdtemp(prefix="rlvr-sandbox-"))
        work, io_dir = base / "work", base / "io"
        work.mkdir()
        io_dir.mkdir(mode=0o700)  # stdin/stdout files: never readable by the program
        os.chmod(base, 0o711)  # the unprivileged uid may pass through to work/, not list base
        try:
            for name, text in (files or {}).items():
                (work / name).write_text(text)
                os.chmod(work / name, 0o444)  # the program may add files, not rewrite the ones it was given
            os.chmod(work, 0o777)  # writable by the unprivileged uid
            (io_dir / "stdin").write_bytes(stdin)
            cmd = (_bwrap_prefix(shutil.which("bwrap"), work, self.ro_paths) if self.isolated else []) + argv
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
            start = time.perf_counter()
            with open(io_dir / "stdin", "rb") as fin, open(io_dir / "stdout", "wb") as fout, open(io_dir / "stderr", "wb") as ferr:
                proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=work, env=env,
                                        preexec_fn=_limit(self.limits), close_fds=True)
                timed_out = False
                try:
                    proc.wait(timeout=self.limits.wall_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                finally:
                    _kill_group(proc)
                    if timed_out:
                        _wait_for_teardown()
            seconds = time.perf_counter() - start
            cap = self.limits.output_bytes
            return RunResult(None if timed_out else proc.returncode, _head(io_dir / "stdout", cap),
                             _head(io_dir / "stderr", cap), timed_out, seconds, self.isolated)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the whole process group (the program and anything it forked), then reap."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _sandbox_uid_processes() -> int:
    count = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        count += uid_line.split()[1] == str(NOBODY)
    return count


def _wait_for_teardown(limit_s: float = 3.0) -> None:
    """The kernel kills a PID namespace's processes asynchronously; until they are gone they still count
    against the sandbox uid's process limit, so the next run could not start. Wait for them (bounded)."""
    deadline = time.monotonic() + limit_s
    while os.getuid() == 0 and _sandbox_uid_processes() and time.monotonic() < deadline:
        time.sleep(0.02)


def _head(path: Path, limit: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(limit)


def install_prefixes(executable: str | None) -> tuple[str, ...]:
    """The install prefix (the folder above bin/) of an executable outside SYSTEM_PATHS, before and after
    resolving symlinks (a toolchain manager's proxy and the toolchain it runs); () when it is a system one."""
    if not executable:
        return ()
    paths = {str(Path(executable).absolute().parent.parent), str(Path(executable).resolve().parent.parent)}
    return tuple(sorted(p for p in paths if not any(p == s or p.startswith(s + "/") for s in SYSTEM_PATHS)))


def sandbox_python() -> str:
    """An interpreter the unprivileged uid can run: the system's python3 (stdlib only), not the venv's,
    which may live under a private home folder."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return sys.executable

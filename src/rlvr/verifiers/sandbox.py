"""Run untrusted programs: a separate process, sandboxed, with hard limits, killed from outside.

Threat model: the program was written by a policy optimised to make tests pass, and may be hostile: it can
try to fork-bomb, exhaust memory or disk, loop forever, stop itself, ignore SIGTERM, flood output, leave
daemons behind, fill its uid's process table, kill its parent, write outside its folder, leave trees that
resist deletion, open network connections, print what the host might mistake for its own messages, or
read the tests, the command line, the environment and other runs' files.

Every run, in every mode:
  - runs under a uid of its own when the host is root: a free uid from UID_BASE.. (flock'd slots, shared with
    other host processes), never one with a live or zombie process. Runs cannot signal, read or starve each
    other (RLIMIT_NPROC counts per uid);
  - a memory+pids cgroup when the cgroup v1 controllers are writable (root): one cap on everything the run
    holds in RAM together (all processes, tmpfs files, memfd, SysV shm, pipes), on top of the rlimits;
  - after the run every process of the run is SIGKILLed: the cgroup's members (a process cannot leave a
    root-owned cgroup), else every process whose real uid is the run's; setsid/double-fork daemons die too;
  - rlimits: CPU seconds, address space, processes, open files, file size, no core dumps;
  - stdin/stdout/stderr are unnamed host files (no path the program or anyone could swap for a fifo or a
    symlink), read back through the host's own descriptors, at most `output_bytes`;
  - a wall-clock deadline from outside; the total time of `run` is bounded by wall_s + START_BUDGET_S +
    TEARDOWN_S whatever the program prints or does (see `run`).

With bubblewrap (`bwrap` >= 0.8, installed by `make setup`; `Sandbox.mode == "bwrap"`):
  - user, PID, IPC, UTS, cgroup and network namespaces (no network, not even loopback; no view of host
    processes); no further user namespaces (--disable-userns); the program is the PID namespace's init
    (--as-pid-1), so when it exits or is killed the kernel kills everything it started;
  - a read-only view of the system's programs and libraries only (SYSTEM_PATHS plus `ro_paths`);
  - all writable space is bubblewrap-internal tmpfs with a size: /tmp (holding the work folder
    /tmp/sandbox) capped at `disk_mb`, /dev/shm at `shm_mb`; /dev itself is read-only. Nothing the program
    writes touches the host's disk, and it all vanishes with the namespace: there is nothing to clean up;
  - given files are read-only bind mounts (cannot be rewritten, renamed or deleted).
Without bubblewrap, as root (`mode == "namespaces"`), the same is rebuilt with unshare(2)+chroot: private
mount, IPC, UTS and network namespaces, a new root holding SYSTEM_PATHS read-only and nosuid, a private /proc
showing the run's own processes only (hidepid), a minimal read-only /dev, /dev/shm and /tmp as size-capped
tmpfs (the /tmp tmpfs is unmounted after the run). Missing against bwrap: a PID namespace (the sweep by uid
replaces it). As root where mounts fail too (`mode == "uid"`): the per-run uid, cgroup and sweep, a work
folder other runs cannot enter, but the host's world-readable files, network and /tmp are within reach.
Without bubblewrap and not root (`mode == "rlimits"`), the program runs as the host's own user: only the
rlimits, a private 0700 work folder (removed without following links), the cleared environment and the
wall clock apply; it can read and signal whatever the host user can. Checks that are unsafe under a
fallback call `require_isolation`.
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NOBODY = 65534  # the uid the program sees inside bubblewrap
UID_BASE, UID_SLOTS = 1_610_000_000, 512  # host uids for runs, one per concurrent run (far above real users)
START_BUDGET_S = 1.0  # bubblewrap may be retried, only while it has not started the program, for this long
TEARDOWN_S = 1.0  # after the program: the kill sweep and reaping, at most this long


@dataclass(frozen=True)
class Limits:
    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 1024  # per process (RLIMIT_AS) and, with cgroups, the whole run's RAM besides disk_mb+shm_mb
    processes: int = 64
    open_files: int = 64
    file_size_mb: int = 8  # any file the program writes, stdout and stderr included
    output_bytes: int = 1 << 20  # what the caller reads back of stdout and stderr
    disk_mb: int = 64  # everything written to the work folder and /tmp together (a tmpfs of this size)
    shm_mb: int = 8  # /dev/shm


@dataclass
class RunResult:
    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool
    seconds: float
    isolated: bool
    started: bool = True  # False: the sandbox itself failed to start the program (stderr says why)
    uid: int | None = None  # the host uid the run had to itself (None: not root, the host's own uid)


# ----------------------------------------------------------------------------------------------- host view

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


def _bwrap_args(exe: str, limits: Limits, extra: tuple[str, ...], files: dict[str, int], status_fd: int) -> list[str]:
    """files: name in the work folder -> a descriptor holding its content (copied in by bubblewrap)."""
    mb = 1 << 20
    args = [exe, *_host_view(extra), "--dev", "/dev", "--size", str(limits.shm_mb * mb), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev", "--proc", "/proc", "--size", str(limits.disk_mb * mb), "--tmpfs", "/tmp",
            "--dir", "/tmp/sandbox"]
    for name in sorted(files):
        for parent in reversed(Path(name).parents[:-1]):
            args += ["--dir", f"/tmp/sandbox/{parent}"]
        args += ["--ro-bind-data", str(files[name]), f"/tmp/sandbox/{name}"]
    return args + [
        "--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(NOBODY), "--gid", str(NOBODY),
        "--as-pid-1", "--die-with-parent", "--new-session", "--clearenv", "--json-status-fd", str(status_fd),
        "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp/sandbox",
        "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--chdir", "/tmp/sandbox", "--",
    ]


@lru_cache(maxsize=1)
def bwrap_works() -> bool:
    """True if bubblewrap exists, has the options used here (>= 0.8) and can create the namespaces."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    r, w = os.pipe()
    try:
        proc = subprocess.run(_bwrap_args(exe, Limits(), (), {}, w) + ["true"], capture_output=True, timeout=10,
                              pass_fds=(w,), preexec_fn=_as_uid(NOBODY) if os.getuid() == 0 else None)
        return proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        os.close(r), os.close(w)


def _as_uid(uid: int):
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


# ------------------------------------------------------------------------------------ uids and processes

def _procs_by_uid() -> dict[int, list[tuple[int, bool]]]:
    """Real uid -> [(pid, alive)] of every process on the host (alive: not a zombie). The real uid comes from
    /proc/PID/status: a process cannot hide it (the owner of /proc/PID changes with PR_SET_DUMPABLE)."""
    found: dict[int, list[tuple[int, bool]]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as f:
                text = f.read(4096)
            state = text.split(b"\nState:\t", 1)[1][:1]
            uid = int(text.split(b"\nUid:\t", 1)[1].split(b"\t", 1)[0])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(uid, []).append((int(entry.name), state not in (b"Z", b"X")))
    return found


def _members(uid: int) -> list[int] | None:
    """The processes in the run's pids cgroup (a process cannot leave it: cgroup.procs is root's), or None
    when there is no such cgroup. Exited processes are not listed; pids.current still counts zombies."""
    d = _pids_cgroup(uid)
    try:
        return [int(pid) for pid in Path(d, "cgroup.procs").read_text().split()] if d else None
    except OSError:
        return None


def _sweep(uid: int, budget_s: float) -> bool:
    """SIGKILL every process of the run (its cgroup's members, or every process of `uid` without a cgroup)
    until none is alive (zombies wait for their reaper). A killed process cannot fork any more, so each round
    finds only what was forked before the previous one: this ends."""
    deadline = time.monotonic() + budget_s
    while True:
        alive = _members(uid)
        if alive is None:
            alive = [pid for pid, ok in _procs_by_uid().get(uid, []) if ok]
        if not alive:
            return True
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)


def _busy(uid: int, scan: dict) -> bool:
    """Whether a slot's uid still has processes, zombies included (they count against RLIMIT_NPROC): its
    pids cgroup's count, or (no cgroups) a scan of /proc made once per acquire."""
    d = _pids_cgroup(uid)
    if d is None:
        if not scan:
            scan.update(_procs_by_uid() or {-1: []})
        return uid in scan
    try:
        return int(Path(d, "pids.current").read_text()) > 0
    except FileNotFoundError:
        return False  # removed after its last run: that run ended cleanly
    except (OSError, ValueError):
        return True


class _UidSlots:
    """Host uids for concurrent runs. A slot is taken with an flock (other host processes share the range)
    and only when no process of its uid exists, zombies included (they count against RLIMIT_NPROC)."""

    def __init__(self, lock_dir: str = "/run/rlvr-sandbox"):
        self.lock_dir, self.lock, self.held, self.next = lock_dir, threading.Lock(), set(), 0

    def acquire(self) -> tuple[int, int]:
        os.makedirs(self.lock_dir, mode=0o700, exist_ok=True)
        st = os.lstat(self.lock_dir)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
            raise RuntimeError(f"{self.lock_dir} must be a directory owned by root with mode 0700")
        scan: dict = {}
        with self.lock:
            for i in itertools.islice(itertools.count(self.next), UID_SLOTS):
                uid = UID_BASE + i % UID_SLOTS
                if uid in self.held:
                    continue
                fd = os.open(f"{self.lock_dir}/{uid}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                if _busy(uid, scan):  # checked under the lock: no other host process is starting it now
                    os.close(fd)
                    continue
                self.held.add(uid)
                self.next = i + 1  # round robin: a just-freed uid rests while its zombies are reaped
                return uid, fd
        raise RuntimeError(f"all {UID_SLOTS} sandbox uids are busy")

    def release(self, uid: int, fd: int) -> None:
        os.close(fd)
        with self.lock:
            self.held.discard(uid)


_SLOTS = _UidSlots()


# --------------------------------------------------------------------------------------------- cgroups

def _cgroup_dirs(uid: int) -> list[str]:
    """This process's memory and pids cgroups (cgroup v1 hierarchies) with a child for `uid`. A v2-only host
    has none: its controllers can only be delegated to leaf groups, which a library cannot arrange."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    dirs = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(","):
            if c in ("memory", "pids") and os.path.isdir(f"/sys/fs/cgroup/{c}{path}"):
                dirs.append(f"/sys/fs/cgroup/{c}{path.rstrip('/')}/rlvr-sandbox-{uid}")
    return dirs


@lru_cache(maxsize=1)
def _pids_root() -> str | None:
    dirs = [d for d in _cgroup_dirs(0) if "/pids/" in d] if os.getuid() == 0 else []
    return os.path.dirname(dirs[0]) if dirs and os.access(os.path.dirname(dirs[0]), os.W_OK) else None


def _pids_cgroup(uid: int) -> str | None:
    root = _pids_root()
    return f"{root}/rlvr-sandbox-{uid}" if root else None


def _cgroup_setup(uid: int, limits: Limits) -> list[str]:
    """Per-run cgroups capping the run's RAM (processes, tmpfs, memfd, SysV shm together) and process count.
    Returns the cgroup.procs files the child joins; [] where cgroups cannot be used (then rlimits only)."""
    if os.getuid() != 0:
        return []
    mb = 1 << 20
    ram = (limits.memory_mb + limits.disk_mb + limits.shm_mb) * mb
    joined = []
    for d in _cgroup_dirs(uid):
        try:
            os.makedirs(d, exist_ok=True)
            if "/memory/" in d:
                # memory+swap may never be set below memory: the order depends on whether the cap grows
                names = ["memory.limit_in_bytes"] + (["memory.memsw.limit_in_bytes"]
                                                     if os.path.exists(f"{d}/memory.memsw.limit_in_bytes") else [])
                try:
                    for name in names:
                        Path(d, name).write_text(str(ram))
                except OSError:
                    for name in reversed(names):
                        Path(d, name).write_text(str(ram))
            else:
                Path(d, "pids.max").write_text(str(limits.processes + 1))  # + bubblewrap's own process
            joined.append(f"{d}/cgroup.procs")
        except OSError:
            continue
    return joined


def _cgroup_remove(uid: int) -> None:
    for d in _cgroup_dirs(uid):
        try:
            os.rmdir(d)
        except OSError:
            pass  # still in use (a zombie): reused by the next run of this uid, limits rewritten


# ------------------------------------------------------------------------ namespaces without bubblewrap

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWNET = 0x20000, 0x4000000, 0x8000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _private_root(root: str, tmp: str, ro_paths: tuple[str, ...], shm_bytes: int) -> None:
    """In the child, as root, before dropping privileges: new namespaces and a chroot holding the system's
    paths read-only and nosuid (a setuid binary must not run as root), /tmp from the host-side capped
    tmpfs `tmp`, a capped /dev/shm, a minimal /dev and a /proc that shows only the run's own uid."""
    if _libc.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in SYSTEM_PATHS + tuple(sorted(ro_paths)):  # a folder before any folder inside it
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            os.makedirs(root + path, exist_ok=True)
            _mount(path, root + path, None, MS_BIND | MS_REC)
            _mount(None, root + path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.mkdir(root + "/tmp")
    _mount(tmp, root + "/tmp", None, MS_BIND)
    os.mkdir(root + "/proc")
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    os.mkdir(root + "/dev")
    for name in ("null", "zero", "full", "random", "urandom"):
        open(f"{root}/dev/{name}", "w").close()
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.mkdir(root + "/dev/shm")
    _mount("tmpfs", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={shm_bytes},mode=1777")
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chroot(root)
    os.chdir("/tmp/sandbox")


# ------------------------------------------------------------------------------------------- the sandbox

def _child_setup(limits: Limits, uid: int | None, cgroups: list[str], private_root=None):
    def apply() -> None:
        os.setsid()  # its own process group, so the parent can kill everything it started
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                # The host's OOM victim of choice. Written with CAP_SYS_RESOURCE this is also the floor the
                # program cannot go below (without it, the floor stays what the host inherited).
                f.write("1000")
        except OSError:
            pass
        for procs in cgroups:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        if private_root is not None:
            private_root()
        if uid is not None:
            _as_uid(uid)()
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


def _check_names(files: dict[str, str]) -> None:
    for name in files:
        parts = Path(name).parts
        if not name or "\0" in name or Path(name).is_absolute() or ".." in parts or "." in name.split("/"):
            raise ValueError(f"sandbox file name {name!r} must be a relative path without '..' or '.'")


class Sandbox:
    def __init__(self, limits: Limits = Limits(), *, use_bwrap: bool | None = None, ro_paths: tuple[str, ...] = (),
                 allow_unisolated: bool = False):
        """ro_paths: host folders the program needs beyond SYSTEM_PATHS (a toolchain under a home folder),
        shown read-only. allow_unisolated: the explicit opt-in to run checks that need isolation
        (`require_isolation`) under the fallback anyway."""
        self.limits, self.ro_paths = limits, tuple(str(Path(p).resolve()) for p in ro_paths)
        self.isolated = bwrap_works() if use_bwrap is None else (use_bwrap and bwrap_works())
        self.allow_unisolated = allow_unisolated
        # bwrap; namespaces: root without bwrap (unshare+chroot); uid: root where namespaces fail too (a uid of
        # its own per run, no view restrictions); rlimits: neither (the host's own uid). See the module doc.
        self.mode = ("bwrap" if self.isolated else "rlimits" if os.getuid() != 0
                     else "namespaces" if _namespaces_work() else "uid")

    def require_isolation(self, what: str) -> None:
        """Refuse `what` (e.g. "assert-style checks") under the fallback unless the caller opted in."""
        if not self.isolated and not self.allow_unisolated:
            raise IsolationRequired(
                f"{what} need bubblewrap isolation, which is not available here (install bubblewrap: `make setup`); "
                "pass allow_unisolated=True to run them under the fallback, which has no PID namespace and, when "
                "not root, cannot keep a hostile program from reading the host or other runs")

    def run(self, argv: list[str], *, files: dict[str, str] | None = None, stdin: bytes = b"") -> RunResult:
        """Run argv in a fresh work folder holding `files` (read-only); stdin is fed from a file, never a pipe.

        Takes at most wall_s + START_BUDGET_S + TEARDOWN_S (plus process start-up). bubblewrap is retried
        only when its status channel (--json-status-fd, which the program never holds) shows it failed
        before starting the program (a transient EAGAIN from clone); nothing the program writes matters."""
        files = files or {}
        _check_names(files)
        give_up = time.monotonic() + START_BUDGET_S
        for attempt in itertools.count():
            result = self._run_once(argv, files, stdin)
            if result.started or time.monotonic() >= give_up:
                return result
            time.sleep(min(0.01 * 2**attempt, max(0.0, give_up - time.monotonic())))

    def _run_once(self, argv: list[str], files: dict[str, str], stdin: bytes) -> RunResult:
        try:
            uid, slot = _SLOTS.acquire() if os.getuid() == 0 else (None, -1)
        except (OSError, RuntimeError) as e:  # all uids busy (zombies awaiting their reaper): retried, bounded
            return RunResult(None, b"", f"sandbox: {e}".encode(), False, 0.0, self.isolated, started=False)
        # The fallback's mount points and folders; bubblewrap needs none (its work folder is its own tmpfs).
        base = None if self.isolated else tempfile.mkdtemp(prefix="rlvr-sandbox-")  # 0700, never in view
        to_close = []
        try:
            cgroups = _cgroup_setup(uid, self.limits) if uid is not None else []
            fin, fout, ferr = (tempfile.TemporaryFile(dir=base) for _ in range(3))  # unnamed, never reopened
            to_close += [fin, fout, ferr]
            fin.write(stdin), fin.flush(), fin.seek(0)
            status_r = status_w = None
            if self.isolated:
                fds = {}
                for name, text in files.items():
                    fds[name] = os.memfd_create("rlvr-file", os.MFD_CLOEXEC)
                    to_close.append(fds[name])
                    data = memoryview(text.encode())
                    while data:
                        data = data[os.write(fds[name], data):]
                    os.lseek(fds[name], 0, os.SEEK_SET)  # bubblewrap reads it from here
                status_r, status_w = os.pipe()
                to_close += [status_r, status_w]
                cmd = _bwrap_args(shutil.which("bwrap"), self.limits, self.ro_paths, fds, status_w) + argv
                popen = dict(pass_fds=(*fds.values(), status_w), cwd="/",
                             preexec_fn=_child_setup(self.limits, uid, cgroups))
            else:
                try:
                    work = self._fallback_folder(base, files, uid)
                except OSError as e:  # the host's state (a mount refused), not the sample's: no run, no raise
                    return RunResult(None, b"", f"sandbox: could not prepare the work folder: {e}".encode(), False,
                                     0.0, False, started=False)
                ns = self.mode == "namespaces"
                private_root = (lambda: _private_root(f"{base}/root", f"{base}/tmp", self.ro_paths,
                                                      self.limits.shm_mb << 20)) if ns else None
                cmd, popen = argv, dict(cwd=None if ns else work,
                                        preexec_fn=_child_setup(self.limits, uid, cgroups, private_root))
            home = work if self.mode in ("uid", "rlimits") else "/tmp/sandbox"
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "PYTHONDONTWRITEBYTECODE": "1"}
            start = time.perf_counter()
            try:
                proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr, env=env, close_fds=True, **popen)
            except (OSError, subprocess.SubprocessError) as e:
                return RunResult(None, b"", f"sandbox: could not start: {e}".encode(), False,
                                 time.perf_counter() - start, self.isolated, started=False)
            try:
                timed_out = not _wait(proc, self.limits.wall_s, reap=False)  # its pid stays its group's
            finally:
                _end(proc, uid)
            seconds = time.perf_counter() - start
            started = True
            if self.isolated:
                status = _read_nonblocking(status_r)
                started = b'"child-pid"' in status  # written by bubblewrap's parent once the program's process exists
            cap = self.limits.output_bytes
            return RunResult(None if timed_out else proc.returncode, _head(fout, cap), _head(ferr, cap),
                             timed_out, seconds, self.isolated, started, uid)
        finally:
            for item in to_close:
                try:
                    os.close(item) if isinstance(item, int) else item.close()
                except OSError:
                    pass
            if base and os.path.ismount(f"{base}/tmp"):
                _libc.umount2(f"{base}/tmp".encode(), MNT_DETACH)  # every file the program wrote goes with it
            if base:
                try:
                    _remove_tree(base)
                except OSError as e:  # not the program's doing (it cannot make root's deletes fail): say so, go on
                    warnings.warn(f"sandbox: could not remove {base}: {e}")
            if uid is not None:
                _cgroup_remove(uid)
                _SLOTS.release(uid, slot)

    def _fallback_folder(self, base: str, files: dict[str, str], uid: int | None) -> str:
        """The work folder without bubblewrap. With namespaces: base/tmp is a tmpfs capped at disk_mb (it becomes
        the program's /tmp). As root, the work folder is root-owned, group-writable by the run's own gid and
        sticky: the program adds files but cannot remove or rewrite the ones given, other runs (other gids)
        cannot enter. Not root: a plain 0700 folder of the host's user."""
        if self.mode == "namespaces":
            os.mkdir(f"{base}/root", 0o700)
            os.mkdir(f"{base}/tmp", 0o700)
            _mount("tmpfs", f"{base}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={self.limits.disk_mb << 20},mode=1777")
            work = f"{base}/tmp/sandbox"
        else:
            work = f"{base}/work"
        os.mkdir(work, 0o700)
        for name, text in files.items():
            os.makedirs(os.path.dirname(f"{work}/{name}"), exist_ok=True)
            Path(work, name).write_text(text)
            os.chmod(f"{work}/{name}", 0o444)
        if uid is not None:
            if self.mode == "uid":
                os.chmod(base, 0o711)  # the run's uid passes through to work/; it cannot list base
            for dirpath, _, _ in os.walk(work):
                os.chown(dirpath, 0, uid)
                os.chmod(dirpath, 0o1770)
        return work


@lru_cache(maxsize=1)
def _namespaces_work() -> bool:
    """Whether the no-bubblewrap namespaces mode runs here (root with CAP_SYS_ADMIN, mount and chroot)."""
    probe = Sandbox.__new__(Sandbox)
    probe.limits, probe.ro_paths, probe.isolated, probe.allow_unisolated = Limits(wall_s=10), (), False, False
    probe.mode = "namespaces"
    try:
        r = probe.run(["/bin/true"])
    except OSError:
        return False
    return r.started and r.returncode == 0


def _end(proc: subprocess.Popen, uid: int | None) -> None:
    """SIGKILL the process group (bubblewrap, or the program and what it forked), then every process of the
    run's uid (daemons that left the group), reap, all within TEARDOWN_S."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    deadline = time.monotonic() + TEARDOWN_S
    if uid is not None:
        _sweep(uid, TEARDOWN_S)
    _wait(proc, max(0.0, deadline - time.monotonic()))  # false only in uninterruptible sleep


def _wait(proc: subprocess.Popen, timeout: float, reap: bool = True) -> bool:
    """Wait for proc to exit (True) or the timeout (False). A pidfd wakes the moment it exits; Popen.wait
    with a timeout polls with sleeps of up to 50 ms. Unreaped, the exited process keeps its pid, so the
    killpg that follows cannot reach a new process group that reused it."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # Linux < 5.3, or already reaped
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        ready = poller.poll(max(0, int(timeout * 1000)))
    finally:
        os.close(fd)
    if ready and reap:
        proc.wait()
    return bool(ready)


def _read_nonblocking(fd: int, limit: int = 1 << 16) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, limit)
    except BlockingIOError:
        return b""


def _head(f, limit: int) -> bytes:
    """The first `limit` bytes of an output file, through the host's own descriptor (never a path)."""
    out = b""
    while len(out) < limit:
        chunk = os.pread(f.fileno(), limit - len(out), len(out))
        if not chunk:
            break
        out += chunk
    return out


def _remove_tree(top: str) -> None:
    """Delete `top` and everything under it: never following a symlink, at any depth (one open directory
    at a time, relative names only: no recursion or path-length limit), whatever modes were set."""
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(top)
        return
    pending, names = [iter(os.listdir(fd))], []  # one listing per open level; the names descended into
    while True:
        for name in pending[-1]:
            try:
                is_dir = stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
            except FileNotFoundError:
                continue
            if not is_dir:
                os.unlink(name, dir_fd=fd)
                continue
            os.chmod(name, 0o700, dir_fd=fd)  # a directory (checked above): a chmod 000 left by the program
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = child
            pending.append(iter(os.listdir(fd)))
            names.append(name)
            break
        else:
            pending.pop()
            if not pending:
                os.close(fd)
                os.rmdir(top)
                return
            parent = os.open("..", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)


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

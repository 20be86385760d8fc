"""The sandbox against hostile programs: each attack returns promptly, fails, and leaves the host unharmed."""

import ast
import os
import socket
import time
from pathlib import Path

import pytest

from rlvr.verifiers.sandbox import Limits, Sandbox, bwrap_works, sandbox_python

PY = sandbox_python()
needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not installed or cannot create namespaces here")


@pytest.fixture(scope="module")
def sandbox():
    return Sandbox(Limits(wall_s=1.5, cpu_s=3, memory_mb=512, processes=32, file_size_mb=1, output_bytes=1 << 16))


def run(sandbox, code, stdin=b""):
    start = time.perf_counter()
    result = sandbox.run([PY, "-I", "main.py"], files={"main.py": code}, stdin=stdin)
    return result, time.perf_counter() - start


def test_honest_program_runs(sandbox):
    r, _ = run(sandbox, "a, b = map(int, input().split())\nprint(a + b)", b"2 3\n")
    assert (r.returncode, r.stdout, r.timed_out) == (0, b"5\n", False)


@pytest.mark.parametrize("name, code", [
    ("infinite loop", "while True: pass"),
    ("ignored SIGTERM", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)"),
    ("fork bomb", "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"),
    ("sleeping children", "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid(); time.sleep(60)\ntime.sleep(60)"),
])
def test_runaway_programs_are_killed_at_the_wall_clock_limit(sandbox, name, code):
    r, seconds = run(sandbox, code)
    assert r.timed_out and r.returncode is None
    assert seconds < 1.5 + 4.0  # the limit plus bounded teardown
    ok, _ = run(sandbox, "print('next')")  # nothing left behind blocks the next run
    assert ok.stdout == b"next\n"


@pytest.mark.skipif(os.getuid() != 0, reason="counts the processes of the sandbox uid, which only a root host drops to")
def test_finished_runs_leave_no_processes(sandbox):
    """Each run's processes are gone when it returns, zombies included: they would count against the sandbox
    uid's process limit (this VM's init reaps orphans slowly), and later runs would fail to fork."""
    from rlvr.verifiers.sandbox import NOBODY

    for _ in range(10):
        assert run(sandbox, "import os\nif os.fork() == 0:\n    os._exit(0)\nos.wait()\nprint('ok')")[0].stdout == b"ok\n"
    left = [p for p in Path("/proc").glob("[0-9]*/status")
            if any(line.split()[1:2] == [str(NOBODY)] for line in _lines(p) if line.startswith("Uid:"))]
    assert left == []


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def test_memory_bomb_fails_fast(sandbox):
    r, seconds = run(sandbox, "x = bytearray(10**10)")
    assert r.returncode != 0 and b"MemoryError" in r.stderr and seconds < 2


def test_output_flood_is_capped(sandbox):
    r, seconds = run(sandbox, "import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert len(r.stdout) <= 1 << 16 and seconds < 3


def test_writes_outside_the_work_folder_fail(sandbox, tmp_path):
    target = tmp_path / "pwned"
    code = f"import os\nfor p in ['/etc/rlvr_pwned', {str(target)!r}, os.path.expanduser('~root/rlvr_pwned')]:\n" \
           "    try:\n        open(p, 'w').write('x'); print('wrote', p)\n    except OSError as e:\n        print('no', p)\n" \
           "open('inside.txt', 'w').write('fine'); print('inside ok')"
    r, _ = run(sandbox, code)
    assert b"wrote" not in r.stdout and b"inside ok" in r.stdout
    assert not target.exists() and not Path("/etc/rlvr_pwned").exists()


def test_the_program_cannot_signal_its_parent(sandbox):
    code = "import os, signal\nfor pid in (os.getppid(), 1):\n    try: os.kill(pid, signal.SIGKILL)\n    except OSError: pass\nprint('done')"
    r, _ = run(sandbox, code)
    assert os.getpid() > 0  # this test process is still alive
    assert r.stdout == b"done\n"


@needs_bwrap
def test_no_network_even_to_loopback(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = f"import socket\ns = socket.socket(); s.settimeout(1)\ntry:\n    s.connect(('127.0.0.1', {port})); print('connected')\n" \
               "except OSError as e:\n    print('refused')"
        r, _ = run(sandbox, code)
        assert r.stdout == b"refused\n"
    finally:
        server.close()


@needs_bwrap
def test_no_view_of_host_processes_env_or_files(sandbox):
    secret = "RLVR_TEST_SECRET_VALUE"
    os.environ["RLVR_SECRET"] = secret
    try:
        code = "import os\nprint(len(os.listdir('/proc')) < 20, os.getpid(), sorted(os.environ))\nprint(os.listdir('.'))"
        r, _ = run(sandbox, code)
        assert secret.encode() not in r.stdout
        lines = r.stdout.decode().splitlines()
        assert lines[1] == "['main.py']"  # only its own files in the work folder
        assert int(lines[0].split()[1]) < 10  # a fresh PID namespace
    finally:
        del os.environ["RLVR_SECRET"]


@needs_bwrap
def test_the_project_and_its_data_are_out_of_view(sandbox):
    """Datasets hold the expected outputs: the program sees the system's programs and libraries only."""
    data = Path(__file__).resolve().parent / "data" / "math_cases.jsonl"
    assert os.stat(data).st_mode & 0o004  # world-readable on the host
    code = f"import os\nprint(os.path.exists({str(data)!r}), os.path.exists({str(data.parent.parent)!r}))\nprint(sorted(os.listdir('/')))"
    r, _ = run(sandbox, code)
    exists, top = r.stdout.decode().splitlines()
    assert exists == "False False"
    assert set(ast.literal_eval(top)) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}

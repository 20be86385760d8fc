import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))


def rlvr_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def run_rlvr(tmp_path):
    """Run the `rlvr` CLI in a subprocess inside tmp_path."""

    def run(*args, timeout=120, check=True):
        proc = subprocess.run([sys.executable, "-m", "rlvr", *args], cwd=tmp_path, env=rlvr_env(),
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"rlvr {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run

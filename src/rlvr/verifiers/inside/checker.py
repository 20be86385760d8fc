"""Run an assert-style check (HumanEval's `def check(candidate): ...`) against a candidate program that
lives in another process.

Run as `python3 -I checker.py` inside the sandbox, next to a JSON spec `spec.json`:
`{"entry_point", "test_code", "prelude"?}`. The prelude is trusted code from the task (HumanEval's prompt,
which defines helpers such as `poly` that some checks call). The checker:
  1. makes itself non-dumpable, so that a process of the same uid can neither ptrace it nor open its
     memory or file descriptors under /proc: the candidate cannot read the tests or write to its stdout;
  2. reads the spec and deletes it before the candidate starts (stdin would not do: bubblewrap's init
     process holds it, and a process of the same uid can reopen it under /proc/1/fd);
  3. starts candidate.py, with /dev/null for its stdio and two pipes for calls;
  4. runs the check with a stand-in for the entry point that forwards each call and returns the reply
     rebuilt as genuine built-in data;
  5. prints one verdict line. The host counts a pass only from exit status 0 with exactly that line.
"""

import builtins
import ctypes
import json
import os
import pickle
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]  # later imports (the check's own) never come from the work folder the candidate can write

MARK = "@@rlvr-check@@ "
PR_SET_DUMPABLE = 4


class Candidate:
    def __init__(self, script: str):
        to_candidate_r, self._requests = os.pipe()
        self._replies, from_candidate_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", script, str(to_candidate_r), str(from_candidate_w)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_candidate_r, from_candidate_w))
        os.close(to_candidate_r)
        os.close(from_candidate_w)

    def function(self, name: str):
        def call(*args, **kwargs):
            wire.send(self._requests, pickle.dumps((name, args, kwargs)))
            frame = wire.receive(self._replies)
            if frame is None:
                raise RuntimeError("the candidate's process ended")
            kind, value = wire.loads(frame)
            if kind == "ok":
                return wire.from_wire(value)
            error = getattr(builtins, value, None) if kind == "raise" and isinstance(value, str) else None
            if isinstance(error, type) and issubclass(error, Exception):
                raise error("raised by the candidate")
            raise RuntimeError(f"the candidate raised {value!r}")

        call.__name__ = name
        return call

    def close(self) -> None:
        os.close(self._requests)
        self.process.kill()
        self.process.wait()


def main() -> int:
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        print(MARK + json.dumps({"ok": False, "error": "could not make the checker non-dumpable"}), flush=True)
        return 1
    with open("spec.json") as f:
        spec = json.load(f)
    os.remove("spec.json")
    namespace = {"__name__": "tests"}
    exec(compile(spec.get("prelude") or "", "prelude.py", "exec"), namespace)
    exec(compile(spec["test_code"], "tests.py", "exec"), namespace)
    candidate = Candidate(os.path.join(os.path.dirname(os.path.abspath(__file__)), "candidate.py"))
    entry = candidate.function(spec["entry_point"])
    namespace[spec["entry_point"]] = entry  # some checks call the function by name (HumanEval/33)
    try:
        namespace["check"](entry)
    finally:
        candidate.close()
    print(MARK + json.dumps({"ok": True}), flush=True)
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except BaseException as e:  # noqa: BLE001 - every failure is a verdict, reported by type
        detail = f"{type(e).__name__}: {e}"[:300]
        print(MARK + json.dumps({"ok": False, "error": detail}), flush=True)
        code = 1
    sys.exit(code)

"""Run an assert-style check (HumanEval's `def check(candidate): ...`) against a candidate program that
lives in another process.

Run as `python3 -I checker.py` inside the sandbox, with a JSON spec on stdin:
`{"entry_point", "test_code", "prelude"?, "expected_exceptions"?}`. The prelude is trusted code from the
task (HumanEval's prompt, which defines helpers such as `poly` that some checks call). The checker:
  1. makes itself non-dumpable, so that a process of the same uid can neither ptrace it nor open its
     memory or file descriptors under /proc: the candidate cannot read the tests or write to its stdout;
     and takes SIGINT's default action, so the candidate cannot raise KeyboardInterrupt inside the check
     (as the PID namespace's init it then ignores the signal; without bubblewrap it dies: no verdict);
  2. reads the spec from stdin and puts /dev/null in its place before the candidate starts. Not a file:
     the work folder's files are read-only mounts the candidate could read. The checker is the only
     process holding stdin (it is the PID namespace's init: no bubblewrap process in between), and being
     non-dumpable, nobody can reopen it under /proc/PID/fd;
  3. starts candidate.py, with /dev/null for its stdio and two pipes for calls;
  4. runs the check with a stand-in for the entry point that forwards each call and returns the reply
     rebuilt as genuine built-in data, after writing the call's effects on the arguments back into the
     check's own objects (below);
  5. prints one verdict line. The host counts a pass only from exit status 0 with exactly that line.

A call that does not return plain data raises CandidateError, a BaseException: the check's `except
Exception` or `except ValueError` does not catch it, an iteration does not take it for its end (as it
would StopIteration, e.g. inside `map(candidate, xs)`), and the checker remembers it, so a check that
swallows it anyway (bare `except:`) still fails. That covers whatever the candidate raises (the type it
names cannot steer the check), its process ending, and a reply that does not rebuild. The one way out is
the spec's `expected_exceptions`, ordinary built-in error types the task says its candidate raises on
purpose (`["ValueError"]`): one of those reaches the check as a fresh instance of that type, made here.

What the check sees of a call is what Python would show it, for arguments of plain data (wire.Graph):
  - every list, dict and set reachable from the arguments (through lists, tuples and dict values) keeps its
    identity and, after the call, holds what the candidate left in it: lists by slice assignment, dicts and
    sets by clear and update, so each reference the check holds, however deep, sees the change; an item
    that is one of those objects stays that object (`xs[0] = xs[1]` shares, a replaced inner list is a
    new one and the check's old reference keeps the old contents);
  - a return value that is an argument (any type), or one of those objects, or holds them, is the check's
    own object; new lists, dicts and sets the candidate shares (`[[0] * 3] * 3`) arrive shared;
  - a call that raises an expected exception (below) leaves its effects on the arguments as a return does;
  - not kept: the identity of tuples and frozensets inside arguments and of scalars inside containers
    (equal copies come back: `x in xs` for a nan x differs).
Fail closed (the call raises CandidateError): an argument holding anything but plain data, bytes,
complex or range (a bytearray, an iterator, an instance of a class, a list subclass, nesting past 100),
whose changes could not be shown; a return value or argument state that is not plain data, or has a
cycle through new objects.
Not modelled: objects the candidate keeps between calls. Its process holds copies, so a check that
changes a returned list or an argument after the call, then calls again, is not seen by the candidate
(Python would let a function that kept the object see the change).
"""

import builtins
import ctypes
import json
import os
import pickle
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]  # later imports (the check's own) never come from the work folder the candidate can write

MARK = "@@rlvr-check@@ "
PR_SET_DUMPABLE = 4
NOT_EXPECTABLE = ("StopIteration", "StopAsyncIteration")  # iteration protocol, not errors


class CandidateError(BaseException):
    """A call to the candidate that did not return plain data."""


def expected_error(name: str):
    """The class that a candidate exception named `name` becomes when the spec expects it, or None."""
    base = getattr(builtins, name, None) if name not in NOT_EXPECTABLE else None
    if not (isinstance(base, type) and issubclass(base, Exception)):
        return None

    def __init__(self):  # the base's own __init__ may want arguments (UnicodeDecodeError wants five)
        BaseException.__init__(self, "raised by the candidate")

    return type(name, (base,), {"__init__": __init__, "__str__": lambda self: "raised by the candidate"})


class Candidate:
    def __init__(self, script: str, expected: list):
        to_candidate_r, self._requests = os.pipe()
        self._replies, from_candidate_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-X", "int_max_str_digits=0", script, str(to_candidate_r), str(from_candidate_w)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_candidate_r, from_candidate_w))
        os.close(to_candidate_r)
        os.close(from_candidate_w)
        self.expected = {name: expected_error(name) for name in expected if expected_error(name) is not None}
        self.failure = None  # the first CandidateError's message: the verdict fails whatever the check did

    def _fail(self, why: str):
        if self.failure is None:
            self.failure = why
        return CandidateError(why)

    def function(self, name: str):
        def call(*args, **kwargs):
            try:
                known = wire.reachable(args, kwargs)
            except TypeError as e:  # fail closed: a change the candidate made there would go unseen
                raise self._fail(f"{name}(): {e}"[:200]) from None
            request = pickle.dumps((name, args, kwargs))  # the check's own arguments: its errors are its own
            try:
                wire.send(self._requests, request)
                frame = wire.receive(self._replies)
                if frame is None:
                    raise EOFError("the candidate's process ended")
                reply = wire.loads(frame)
                if type(reply) is not list or len(reply) != 3 or reply[0] not in ("ok", "raise"):
                    raise wire.WireError("malformed reply")
                kind, payload, states = reply
                raised = payload if kind == "raise" and type(payload) is str else "?"
                if kind == "ok" or raised in self.expected:  # the check sees the call's effects
                    graph = wire.Graph(known)
                    value = wire.from_wire(payload, graph=graph) if kind == "ok" else None
                    graph.apply(states)  # decoded after the value, as the candidate encoded them
                    if kind == "ok":
                        return value
            except Exception as e:  # noqa: BLE001 - broken pipe, end of stream, malformed or unbuildable reply
                raise self._fail(f"{name}(): {type(e).__name__}: {e}"[:200]) from None
            if raised in self.expected:
                raise self.expected[raised]()
            raise self._fail(f"{name}() raised {raised[:100]}")

        call.__name__ = name
        return call

    def close(self) -> None:
        os.close(self._requests)
        self.process.kill()
        self.process.wait()


def main() -> dict:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return {"ok": False, "error": "could not make the checker non-dumpable"}
    spec = json.loads(sys.stdin.buffer.read())
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    namespace = {"__name__": "tests"}
    exec(compile(spec.get("prelude") or "", "prelude.py", "exec"), namespace)
    exec(compile(spec["test_code"], "tests.py", "exec"), namespace)
    candidate = Candidate(os.path.join(os.path.dirname(os.path.abspath(__file__)), "candidate.py"),
                          spec.get("expected_exceptions") or [])
    entry = candidate.function(spec["entry_point"])
    namespace[spec["entry_point"]] = entry  # some checks call the function by name (HumanEval/33)
    try:
        namespace["check"](entry)
    finally:
        candidate.close()
    if candidate.failure is not None:  # the check swallowed a CandidateError
        return {"ok": False, "error": candidate.failure}
    return {"ok": True}


def describe(e: BaseException) -> str:
    try:
        return f"{type(e).__name__}: {e}"[:300]
    except BaseException:  # noqa: BLE001 - a message that cannot be shown (an int past the digit limit...)
        return type(e).__name__


if __name__ == "__main__":
    try:
        verdict = main()
    except BaseException as e:  # noqa: BLE001 - every failure is a verdict, reported by type
        verdict = {"ok": False, "error": describe(e)}
    print(MARK + json.dumps(verdict), flush=True)
    sys.exit(0 if verdict == {"ok": True} else 1)

"""The candidate's process: load the completion's program, then answer calls to its functions.

Run as `python3 -I candidate.py REQUEST_FD REPLY_FD` by checker.py, with stdin, stdout and stderr on
/dev/null. Each request is a pickle of (function name, args, kwargs) from the checker; each reply is
`[kind, payload, states]`: kind "ok" with the return value, or "raise" with the exception's type name, and
the post-call contents of the arguments' lists, dicts and sets, in wire form with references to the
argument objects (wire.Graph), so that the checker can show the check what Python would. Everything here
is under the candidate's control once its code is loaded, which is why the checker trusts nothing it
replies beyond plain data, and gives an exception it names no power over the check (checker.py).
"""

import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]


def main() -> None:
    requests, replies = int(sys.argv[1]), int(sys.argv[2])
    namespace = {"__name__": "solution"}
    load_error = None
    try:
        with open("solution.py") as f:
            exec(compile(f.read(), "solution.py", "exec"), namespace)
    except BaseException as e:  # SystemExit included: a program that exits while loading answers nothing
        load_error = type(e).__name__
    while True:
        frame = wire.receive(requests)
        if frame is None:
            return
        name, args, kwargs = pickle.loads(frame)
        graph = wire.Graph(wire.reachable(args, kwargs))  # numbered before the call, as the checker did
        try:
            if load_error is not None:
                raise RuntimeError(f"the program failed to load ({load_error})")
            if name not in namespace:
                raise NameError(name)
            kind, value = "ok", namespace[name](*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - reported by name; the checker decides what it may do
            kind, value = "raise", str(type(e).__name__)[:100]
        try:  # the value first, then the arguments' contents: the order the checker decodes in
            payload = graph.encode(value) if kind == "ok" else value
            reply = wire.dumps([kind, payload, graph.states()])
        except BaseException as e:  # noqa: BLE001 - not plain data, a cycle through new objects...
            reply = wire.dumps(["raise", f"unmirrorable ({type(e).__name__})", None])
        wire.send(replies, reply)


if __name__ == "__main__":
    main()

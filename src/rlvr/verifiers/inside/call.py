"""Call-based tests: load the candidate's program, call its entry point on each argument list, and print
one result line per call.

Run as `python3 -I -B call.py ENTRY` with `args.json` (a list of argument lists, in wire form, so that
tuples, sets and non-string dict keys arrive as they were written) beside it. Nothing here is trusted, as
the candidate's code shares this process: the host rebuilds each value as plain data (wire.py) and
compares it with the expected value, which never enters the sandbox. A missing or duplicated line fails
its test.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wire  # noqa: E402

del sys.path[0]

MARK = "@@rlvr-result@@ "


def main() -> None:
    with open("args.json") as f:
        calls = wire.from_wire(json.load(f))
    namespace = {"__name__": "solution"}
    with open("solution.py") as f:
        exec(compile(f.read(), "solution.py", "exec"), namespace)
    function = namespace.get(sys.argv[1])
    for i, args in enumerate(calls):
        try:
            line = json.dumps({"i": i, "v": wire.to_wire(function(*args))})
        except BaseException as e:  # noqa: BLE001 - SystemExit included: each call gets a line
            line = json.dumps({"i": i, "error": type(e).__name__})
        print(MARK + line, flush=True)


if __name__ == "__main__":
    main()

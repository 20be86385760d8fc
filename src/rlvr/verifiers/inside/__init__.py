"""Scripts that run inside the code sandbox, under the system's python3 with the standard library only.

The host copies them into each run's work folder; they are importable here only so that tests can check
the parts that do not touch the sandbox (the wire format).
"""

"""Reward functions for the tests, importable by `rlvr train` subprocesses (`function: rlvr_test_helpers:…`)."""

import time


def digit_share(prompts, completions, **kwargs):
    """Dense toy reward: the share of characters that are digits. A random byte-level model starts near 4%."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


def slow_digit_share(prompts, completions, **kwargs):
    """The same, but slow enough that a test can kill the run between steps."""
    time.sleep(0.4)
    return digit_share(prompts, completions)

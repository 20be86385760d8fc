"""Progress for every long loop (training, SFT, reward models, evaluation, sampling): done/total, the time
spent and the time remaining.

On a terminal it is a rich bar; a bar opened while another is showing (an evaluation inside training) becomes
a second line of the same display, since rich allows one live display at a time. Off a terminal (logs, CI) it
prints plain lines, at most one every `every_s` seconds plus the last.
"""

from __future__ import annotations

import time

_live: list = []  # the rich Progress currently on screen, if any (a stack of one)


def clock(seconds: float) -> str:
    """`1:53`, `1:02:03`: elapsed and remaining time, and a pipeline stage's wall time."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Bar:
    """`with Bar(console, "eval", total) as bar: bar.update(done, info)`. `enabled=False` shows nothing."""

    def __init__(self, console, label: str, total: int, *, completed: int = 0, enabled: bool = True,
                 every_s: float = 0.0):
        self.console, self.label, self.total, self.enabled, self.every_s = console, label, total, enabled, every_s
        self.first = self.done = completed  # remaining time is estimated from this session's pace only
        self.started = self.last_line = time.monotonic()
        self.rich = self.owner = self.task = None

    def __enter__(self):
        if self.enabled and self.console is not None and self.console.is_terminal:
            if _live:
                self.rich = _live[-1]
            else:
                from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                           TimeElapsedColumn, TimeRemainingColumn)

                self.rich = self.owner = Progress(
                    TextColumn("{task.description}"), MofNCompleteColumn(), BarColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), console=self.console,
                )
                self.rich.start()
                _live.append(self.rich)
            self.task = self.rich.add_task(self.label, total=self.total, completed=self.done, info="")
        return self

    def remaining_s(self) -> float | None:
        if self.done <= self.first:
            return None
        return (time.monotonic() - self.started) / (self.done - self.first) * (self.total - self.done)

    def update(self, done: int, info: str = "") -> None:
        self.done = done
        if not self.enabled or self.console is None:
            return
        if self.rich is not None:
            self.rich.update(self.task, completed=done, info=info)
            return
        now = time.monotonic()
        if now - self.last_line < self.every_s and done < self.total:
            return
        self.last_line = now
        left = self.remaining_s()
        timing = clock(now - self.started) + (f" eta {clock(left)}" if left is not None else "")
        self.console.print("  ".join(part for part in (f"{self.label} {done}/{self.total}", info, f"[{timing}]") if part))

    def __exit__(self, *exc):
        if self.rich is not None:
            if self.owner is not None:
                self.owner.stop()
                _live.remove(self.owner)
            else:
                self.rich.remove_task(self.task)
        return False

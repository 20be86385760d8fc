"""Datasets from JSONL files: one object per line with `prompt` or `question`, and `answer`.

GSM8K-style answers (a worked solution ending in `#### N`) are reduced to N. Other fields are kept and handed
to reward functions as columns. Without `eval_path`, the last `held_out` rows of the file are the held-out set
and are never trained on. The training order is a fresh seeded permutation per epoch.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from rlvr.answers import check_answer
from rlvr.tasks import Check, Example

PROMPT_FIELDS = ("prompt", "question")


class DatasetError(ValueError):
    pass


def iter_objects(path: str | Path):
    """Yield ("file:line", object) for each non-blank line of a JSONL file ("-": stdin). Invalid UTF-8, bad
    JSON or a line that is not an object fails with the file and line number."""
    if str(path) == "-":
        stream, name = sys.stdin.buffer, "<stdin>"
    else:
        path = Path(path)
        if not path.exists():
            raise DatasetError(f"{path}: file not found")
        stream, name = path.open("rb"), str(path)
    with stream:
        for lineno, raw in enumerate(stream, start=1):
            where = f"{name}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DatasetError(f"{where}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DatasetError(f"{where}: bad JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
            yield where, row


def read_jsonl(path: str | Path) -> list[Example]:
    """Parse a JSONL file into Examples; any bad row fails with the file and line number."""
    examples = []
    for where, row in iter_objects(path):
        prompt_field = next((k for k in PROMPT_FIELDS if k in row), None)
        if prompt_field is None:
            raise DatasetError(f"{where}: missing field 'prompt' or 'question'")
        if "answer" not in row or row["answer"] is None or str(row["answer"]).strip() == "":
            raise DatasetError(f"{where}: missing field 'answer'")
        question = row[prompt_field]
        if not isinstance(question, str) or not question.strip():
            raise DatasetError(f"{where}: field {prompt_field!r} must be a non-empty string")
        answer = gold_answer(str(row["answer"]))
        columns = {k: v for k, v in row.items() if k not in (prompt_field, "answer")}
        examples.append(Example(question=question, answer=answer, columns=columns))
    if not examples:
        raise DatasetError(f"{path}: no rows")
    return examples


def gold_answer(answer: str) -> str:
    """GSM8K solutions end with `#### N`: keep N (thousands separators removed)."""
    if "####" in answer:
        return answer.rsplit("####", 1)[1].strip().replace(",", "")
    return answer.strip()


class JsonlTask:
    reward = "math_answer"

    def __init__(self, config):
        self.config = config
        rows = read_jsonl(config.path)
        if config.eval_path:
            self.train, self.eval = rows, read_jsonl(config.eval_path)
        else:
            if len(rows) <= config.held_out:
                raise DatasetError(f"{config.path}: {len(rows)} rows, not enough to hold out {config.held_out}")
            cut = len(rows) - config.held_out
            self.train, self.eval = rows[:cut], rows[cut:]
        self._epoch_order: tuple[int, list[int]] = (-1, [])

    def example(self, index: int) -> Example:
        epoch, pos = divmod(index, len(self.train))
        if self._epoch_order[0] != epoch:
            order = list(range(len(self.train)))
            random.Random(self.config.seed * 1_000_003 + epoch).shuffle(order)
            self._epoch_order = (epoch, order)
        return self.train[self._epoch_order[1][pos]]

    def held_out(self, n: int) -> list[Example]:
        return self.eval[:n]

    def check(self, completion: str, example: Example) -> Check:
        return check_answer(completion, example.answer, fallback_last_number=self.config.fallback_last_number)

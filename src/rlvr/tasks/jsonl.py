"""Datasets as people store them: JSONL, JSON, parquet, CSV and Arrow files, `datasets.save_to_disk` folders,
a folder of data files as the hub lays them out, and `datasets.Dataset` objects (or lists of row dicts) passed
from Python.

Each row has a prompt (`prompt` or `question`, or the column `prompt_field` names) and a gold answer (the
column `answer_field` names, `answer` by default; `answer_field: null` for a dataset without one, as for
rewards that need no gold answer). A prompt is text or a list of chat messages ({role, content}, TRL's
conversational format, system messages per row), which is rendered through the chat template. GSM8K-style
answers (a worked solution ending in `#### N`) are reduced to N, and a worked solution with a `\\boxed{}` to
its last box. Every other column is kept, as stored, and handed to reward functions by name (e.g. open-r1's
`solution`). Without `eval_path`, the last `held_out` rows are the held-out set and are never trained on.
The training order is a fresh seeded permutation per epoch.

JSONL files (and stdin, `-`) are read line by line here, each row exactly as written, so a bad line is named
by file and line; everything else goes through the `datasets` library, and a bad row is named by its index.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
from pathlib import Path

from rlvr.answers import Check, check_answer, last_boxed
from rlvr.tasks import Example

PROMPT_FIELDS = ("prompt", "question")
PARQUET_MAGIC = b"PAR1"
# File suffixes read through `datasets` (its builder name per suffix); anything else is read as JSONL.
BUILDERS = {".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
COMPRESSED = (".gz", ".bz2", ".xz", ".zst")  # JSON/JSONL/CSV files compressed: read through `datasets`


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
        if path.is_dir():
            raise DatasetError(f"{path}: a folder, expected a JSONL file")
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


# --------------------------------------------------------------------------------------------- sources


def _quiet_datasets():
    import datasets

    return datasets


@contextlib.contextmanager
def _no_progress_bars():
    """datasets' progress bars off while rlvr reads or writes (a run has its own), then as they were."""
    from datasets.utils import logging as ds_logging

    was = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            ds_logging.enable_progress_bar()


def _select_split(ds, name: str, split: str):
    """A DatasetDict -> its `split`; an IterableDataset (streaming) is refused: training needs random access."""
    datasets = _quiet_datasets()
    if isinstance(ds, (datasets.DatasetDict, dict)) and not isinstance(ds, datasets.Dataset):
        if split not in ds:
            raise DatasetError(f"{name}: no split {split!r} (splits: {', '.join(ds)}); set task.split")
        ds = ds[split]
    if isinstance(ds, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise DatasetError(f"{name}: a streaming IterableDataset; training shuffles per epoch and needs the rows: "
                           f"load it without streaming=True")
    return ds


def _load_path(path: Path, split: str):
    """A file or folder on disk -> a datasets.Dataset (or None for JSONL, which `iter_objects` reads)."""
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    datasets = None
    if path.is_dir():
        datasets = _quiet_datasets()
        try:
            return _select_split(datasets.load_from_disk(str(path)), str(path), split)
        except FileNotFoundError:  # not a save_to_disk folder: maybe data files laid out as on the hub
            pass
        try:
            return datasets.load_dataset(str(path), split=split)
        except Exception as e:  # noqa: BLE001 - datasets raises many kinds here; all mean "cannot read this folder"
            raise DatasetError(f"{path}: a folder that is neither a `datasets.save_to_disk` folder nor a folder of "
                               f"data files `datasets.load_dataset` reads ({type(e).__name__}: {e})") from None
    suffixes = [x.lower() for x in path.suffixes]
    if len(suffixes) >= 2 and suffixes[-1] in COMPRESSED:  # data.jsonl.gz: datasets decompresses it
        builder = "json" if suffixes[-2] == ".jsonl" else BUILDERS.get(suffixes[-2])
    else:
        builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        with path.open("rb") as f:
            if f.read(4) == PARQUET_MAGIC:  # a parquet file under another name
                builder = "parquet"
    if builder is None:
        return None
    datasets = _quiet_datasets()
    try:
        if builder == "arrow":
            return datasets.Dataset.from_file(str(path))
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as e:  # noqa: BLE001
        if builder == "json":  # JSON Lines under a .json name: the line reader names the bad line
            for _ in iter_objects(path):
                pass
        raise DatasetError(f"{path}: could not be read as {builder} ({type(e).__name__}: {e})") from None


def open_source(source, *, split: str = "train"):
    """(name, rows, columns) for `source`: a path (str/Path, "-" for stdin), a datasets.Dataset or DatasetDict,
    or a list of dicts. `rows` yields ("where", row dict), `where` naming the file and line (JSONL) or the row
    index; `columns` are the column names a datasets.Dataset declares (None for JSONL and lists)."""
    if isinstance(source, (str, Path)):
        name = str(source)
        ds = None if name == "-" else _load_path(Path(source), split)
        if ds is None:
            return name, iter_objects(source), None
    else:
        name, ds = "the dataset passed from Python", source
        if not isinstance(ds, list):
            ds = _select_split(ds, name, split)

    def rows():
        for i, row in enumerate(ds):
            if not isinstance(row, dict):
                raise DatasetError(f"{name}, row {i}: expected a mapping of columns, got {type(row).__name__}")
            yield f"{name}, row {i}", row

    return name, rows(), list(getattr(ds, "column_names", None) or []) or None


# --------------------------------------------------------------------------------------------- rows


def check_messages(value, where: str, field: str) -> list[dict]:
    """A conversational prompt: a non-empty list of {role: str, content: str | list of parts | None}."""
    if not value:
        raise DatasetError(f"{where}: field {field!r} is an empty list of messages")
    for k, m in enumerate(value):
        if not isinstance(m, dict):
            raise DatasetError(f"{where}: field {field!r}, message {k}: expected {{role, content}}, got {type(m).__name__}")
        if not isinstance(m.get("role"), str) or not m["role"]:
            raise DatasetError(f"{where}: field {field!r}, message {k}: no 'role'")
        if not isinstance(m.get("content"), (str, list)) and m.get("content") is not None:
            raise DatasetError(f"{where}: field {field!r}, message {k}: 'content' must be text or a list of parts, "
                               f"got {type(m.get('content')).__name__}")
    return [dict(m) for m in value]


def to_example(where: str, row: dict, *, prompt_field: str | None = None, answer_field: str | None = "answer") -> Example:
    """One row -> Example. The prompt is text or chat messages; the gold answer comes from `answer_field`
    (None: a prompt-only dataset, Example.answer is None). Other columns are kept as stored."""
    fields = (prompt_field,) if prompt_field else PROMPT_FIELDS
    field = next((k for k in fields if k in row), None)
    if field is None:
        raise DatasetError(f"{where}: missing field {' or '.join(map(repr, fields))} (fields: {', '.join(map(str, row))}); "
                           f"set task.prompt_field to the column with the prompt")
    question = row[field]
    if isinstance(question, list):
        question = check_messages(question, where, field)
    elif not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: field {field!r} must be a non-empty string or a list of chat messages")
    answer = None
    if answer_field is not None:
        value = row.get(answer_field)
        if value is None or str(value).strip() == "":
            raise DatasetError(f"{where}: missing field {answer_field!r}; set task.answer_field to the column with "
                               f"the gold answer, or to null for a dataset without one")
        answer = gold_answer(str(value))
    elif "answer" in row and row["answer"] is not None:
        raise DatasetError(f"{where}: has an 'answer' field but task.answer_field is null; set task.answer_field: answer")
    if answer_field not in (None, "answer") and "answer" in row:
        raise DatasetError(f"{where}: has an 'answer' column besides task.answer_field {answer_field!r}; rewards "
                           f"receive the gold answer as `answer`, so one would hide the other: rename one of them")
    columns = {k: v for k, v in row.items() if k not in (field, "answer")}
    if answer_field not in (None, "answer"):
        columns[answer_field] = row[answer_field]  # also under its own name, as stored (open-r1's `solution`)
    return Example(question=question, answer=answer, columns=columns)


def read_rows(source, *, prompt_field: str | None = None, answer_field: str | None = "answer",
              split: str = "train") -> list[Example]:
    """Every row of `source` (see `open_source`) as an Example; a bad row fails naming the file and row."""
    if isinstance(source, (str, Path)) and str(source) != "-" and Path(source).suffix.lower() != ".jsonl":
        with _no_progress_bars():  # `datasets` reads it (or it is JSONL under another name: read here, later)
            name, rows, columns = open_source(source, split=split)
    else:
        name, rows, columns = open_source(source, split=split)
    if columns is not None:  # a column missing everywhere is named once, with the columns there are
        wanted = [prompt_field] if prompt_field else list(PROMPT_FIELDS)
        if not any(c in columns for c in wanted):
            raise DatasetError(f"{name}: no column {' or '.join(map(repr, wanted))} (columns: {', '.join(columns)}); "
                               f"set task.prompt_field")
        if answer_field is not None and answer_field not in columns:
            raise DatasetError(f"{name}: no column {answer_field!r} (columns: {', '.join(columns)}); set "
                               f"task.answer_field to the column with the gold answer, or to null for a dataset without one")
    examples = [to_example(where, row, prompt_field=prompt_field, answer_field=answer_field)
                for where, row in rows]
    if not examples:
        raise DatasetError(f"{name}: no rows")
    return examples


def read_jsonl(path: str | Path) -> list[Example]:
    """Parse a dataset file (JSONL and the rest, see `open_source`) into Examples with the default fields."""
    return read_rows(path)


def gold_answer(answer: str) -> str:
    """GSM8K solutions end with `#### N`: keep N (thousands separators removed). A worked solution with a
    box (open-r1's `solution`): keep the last box's content."""
    if "####" in answer:
        return answer.rsplit("####", 1)[1].strip().replace(",", "")
    if "\\boxed" in answer or "\\fbox" in answer:
        boxed = last_boxed(answer)
        if boxed is not None and boxed.strip():
            return boxed.strip()
    return answer.strip()


class JsonlTask:
    """The `jsonl` task kind: any dataset `open_source` reads. `rows`/`eval_rows` (datasets passed from Python)
    take the place of `config.path`/`config.eval_path` when given."""

    reward = "math_answer"

    def __init__(self, config, *, rows=None, eval_rows=None):
        self.config = config
        read = lambda src: read_rows(src, prompt_field=config.prompt_field, answer_field=config.answer_field,  # noqa: E731
                                     split=config.split)
        data = read(rows if rows is not None else config.path)
        if eval_rows is not None or config.eval_path:
            self.train, self.eval = data, read(eval_rows if eval_rows is not None else config.eval_path)
        else:
            if len(data) <= config.held_out:
                raise DatasetError(f"{config.path}: {len(data)} rows, not enough to hold out {config.held_out}")
            cut = len(data) - config.held_out
            self.train, self.eval = data[:cut], data[cut:]
        self.has_answers = config.answer_field is not None  # False: a prompt-only dataset
        self.conversational = any(isinstance(ex.question, list) for ex in self.train + self.eval)
        self._epoch_order: tuple[int, list[int]] = (-1, [])

    def __len__(self) -> int:
        return len(self.train)

    def example(self, index: int) -> Example:
        epoch, pos = divmod(index, len(self.train))
        if self._epoch_order[0] != epoch:
            order = list(range(len(self.train)))
            random.Random(self.config.seed * 1_000_003 + epoch).shuffle(order)
            self._epoch_order = (epoch, order)
        return self.train[self._epoch_order[1][pos]]

    def held_out(self, n: int) -> list[Example]:
        return self.eval[:n]

    def check(self, completion, example: Example) -> Check:
        if example.answer is None:  # a prompt-only dataset: nothing to verify (left out of accuracy)
            return Check(correct=None, extracted=None, reason="no gold answer")
        return check_answer(completion, example.answer, fallback_last_number=self.config.fallback_last_number)


# --------------------------------------------------------------------------------------------- from Python


def from_python(cfg, train, eval_rows, data_dir: Path):
    """(cfg, task) for a dataset passed to rlvr.train: the task reads `train` (and `eval_rows`) now; the
    config records where the run keeps their copies (`save_python_datasets`), so `--resume` reads those."""
    from rlvr.config import JsonlTaskConfig

    fields = cfg.task.model_dump() if cfg.task.kind == "jsonl" else {}
    fields.update(kind="jsonl", path=str(data_dir / "train"))
    if eval_rows is not None:
        fields["eval_path"] = str(data_dir / "eval")
    task_cfg = JsonlTaskConfig(**fields)
    return cfg.model_copy(update={"task": task_cfg}), JsonlTask(task_cfg, rows=train, eval_rows=eval_rows)


def save_python_datasets(train, eval_rows, data_dir: Path, *, split: str = "train") -> None:
    """Write the datasets passed from Python into the run folder (`datasets.save_to_disk`)."""
    datasets = _quiet_datasets()
    for name, ds in (("train", train), ("eval", eval_rows)):
        if ds is None:
            continue
        ds = datasets.Dataset.from_list(ds) if isinstance(ds, list) else _select_split(ds, f"{name}_dataset", split)
        with _no_progress_bars():
            ds.save_to_disk(str(data_dir / name))


def check_fit(task, template: str, reward_fns) -> None:
    """Before a run starts: conversational prompts need the chat template, and a dataset without gold answers
    cannot feed a reward function that requires `answer` (e.g. `correct`, `math_answer`)."""
    import inspect

    if getattr(task, "conversational", False) and template != "chat":
        raise DatasetError(f"{task.config.path}: its prompts are chat messages, which are rendered through the chat "
                           f"template; set prompt.template=chat (it is {template!r})")
    if getattr(task, "has_answers", True):
        return
    for r in reward_fns:
        try:
            param = inspect.signature(r.fn).parameters.get("answer")
        except (TypeError, ValueError):
            continue
        if param is not None and param.default is param.empty and param.kind is not param.VAR_KEYWORD:
            raise DatasetError(f"reward {r.name!r} needs a gold answer (`answer`), but {task.config.path} has none "
                               f"(task.answer_field is null): set task.answer_field, or use rewards that need no answer")

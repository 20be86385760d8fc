"""The one interface every verifier has, used alike by the rewards table and by `rlvr verify`.

A case is a dict: {"completion": …, <reference>: …, <optional columns>…}, the same fields a dataset row
hands a reward function and a `rlvr verify --file` line holds. A verifier declares

    reference            the column a completion is checked against ("answer", "tests", "statement")
    optional             further columns it reads when present (proof: "preamble", "prover")
    check_case(case)     ValueError naming what is wrong with a case, raised before anything runs
    verify_batch(cases)  one result per case, in order; a sample's content never makes it raise
    cli_options(...)     its constructor's options for `rlvr verify --timeout/--allow-unisolated`

and gets `verify(completion, reference, **optional)` and TRL's reward signature from this class.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from rlvr.answers import completion_text
from rlvr.verifiers.sandbox import IsolationRequired

log = logging.getLogger(__name__)

MAX_PROGRAM_CHARS = 1_000_000  # a completion holding a program or proof: a longer one scores 0 before anything runs


def program_text(completion) -> tuple[str, str]:
    """The text of a completion that holds a program or a proof, with lone surrogates made "?" (they cannot be
    written into the sandbox), or ("", why it scores 0 before anything runs)."""
    text = completion_text(completion)  # chat content: text parts joined, anything else no text (never raises)
    if len(text) > MAX_PROGRAM_CHARS:
        return "", f"completion: {len(text):,} characters, over the {MAX_PROGRAM_CHARS:,} limit"
    return text.encode("utf-8", errors="replace").decode("utf-8"), ""


class Verifier:
    reference: str = ""
    optional: tuple[str, ...] = ()

    @classmethod
    def check_case(cls, case: dict) -> None:
        raise NotImplementedError

    def verify_batch(self, cases: list[dict]) -> list:
        raise NotImplementedError

    @classmethod
    def cli_options(cls, *, timeout_s: float | None, allow_unisolated: bool) -> dict:
        """Constructor keywords for a wall-clock limit per check (None: the default) and the sandbox opt-in."""
        return {}

    @staticmethod
    def read_reference(text: str):
        """The reference as given on the command line (`--answer`, `--tests`, `--statement`)."""
        return text

    def close(self) -> None:
        """Release worker processes, if any."""

    def verify(self, completion, reference, **optional):
        return self.verify_batch([{"completion": completion, self.reference: reference, **optional}])[0]

    def __call__(self, prompts, completions, **columns) -> list[float]:
        """TRL's reward signature: the reference and optional columns come by name, None where absent."""
        if self.reference not in columns:
            raise ValueError(f"{type(self).__name__} needs the dataset column {self.reference!r}")
        cases = [{"completion": c, self.reference: r} for c, r in zip(completions, columns[self.reference])]
        for key in self.optional:
            for case, value in zip(cases, columns.get(key) or []):
                if value is not None:
                    case[key] = value
        return [r.reward for r in self.verify_batch(cases)]


class SandboxedVerifier(Verifier):
    """A verifier whose every case is its own sandboxed run (code, proofs): `verify_batch` checks every case
    first (a malformed one raises, naming its index, before anything runs), then judges them in `workers`
    threads, which only wait on their subprocesses. IsolationRequired and OSError (the machine's state) reach
    the caller; any other failure on one sample scores that sample 0 with the reason, never the batch."""

    workers: int = 2

    def verify_case(self, case: dict):
        raise NotImplementedError

    def failed(self, case: dict, reason: str):
        """The result that scores `case` 0 for `reason`."""
        raise NotImplementedError

    def verify_batch(self, cases: list[dict]) -> list:
        cases = list(cases)
        for i, case in enumerate(cases):
            try:
                self.check_case(case)
            except (ValueError, KeyError) as e:
                raise ValueError(f"case {i}: {e}") from None
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self._guarded, cases))

    def _guarded(self, case: dict):
        try:
            return self.verify_case(case)
        except (IsolationRequired, OSError):  # the machine's state, not the sample's: the caller must know
            raise
        except Exception as e:  # noqa: BLE001 - last line of defence; the verifiers' parsing is meant to be total
            log.warning("%s: %s on a sample, scored 0", type(self).__name__, type(e).__name__, exc_info=True)
            return self.failed(case, f"verifier error: {type(e).__name__}: {e}"[:300])

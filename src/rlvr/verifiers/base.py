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

"""Proof verifier: a real proof checker (Coq's `coqc`) decides; reward 1 only for a closed proof of exactly
the stated theorem.

Threat model: the proof script is written by a policy optimised to make `coqc` accept something. The task
fixes the statement (`Theorem name binders : type.`); the completion supplies the script (the last fenced
coq block, or the text), from `Proof.` on. Defences:
  - the stated type is elaborated into a goal definition under a per-check random name before the
    completion's text, so the completion can neither know nor redefine it;
  - a second, separate `coqc` run loads the compiled candidate and checks `NAME : goal` (same name,
    convertible type: `Abort` followed by an easier statement under the same name fails here) and
    `Print Assumptions NAME`, which must be "Closed under the global context": `Admitted`, new `Axiom` /
    `Parameter` / `Hypothesis` / `Variable` used by the proof, and disabled guard, positivity or universe
    checking all show up there. The candidate's own output can never be mistaken for the check's;
  - both runs happen in the sandbox (sandbox.py) with a wall-clock limit; a timeout scores 0.
Lean 4 (`lean` on PATH, or `lake env lean` inside `lean_project`) follows the same plan in one file: the goal
is a `def` elaborated before the candidate's text, then `example : goal := @name`, `#print axioms name` and
an end marker carrying the nonce are appended. The axioms report counts only if it is the one printed just
before that marker (an unterminated comment in the candidate swallows the marker and fails), and it may
list only Lean's standard axioms (propext, Classical.choice, Quot.sound): `sorry` (sorryAx),
`native_decide` (Lean.ofReduceBool) and new axioms fail; `set_option debug.skipKernelTC` is refused
outright. No Lean toolchain can be installed on this project's machine, so the Lean path is covered by
unit tests of its parsing, and its end-to-end tests skip here.
`available()` reports which provers this machine has.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from rlvr.rewards.math_answer import check_completion, completion_text
from rlvr.verifiers.sandbox import Limits, Sandbox, install_prefixes

_FENCE = re.compile(r"```[ \t]*(?:coq|rocq|v)?[^\n]*\n(.*?)```", re.DOTALL)
_STATEMENT = re.compile(r"^\s*(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Example)\s+([A-Za-z_][\w']*)(.*)\.\s*$", re.DOTALL)
CLOSED = "Closed under the global context"


@dataclass
class ProofResult:
    reward: float
    prover: str
    accepted: bool  # the candidate file compiled
    closed: bool  # Print Assumptions: no axioms, no disabled checks
    same_statement: bool
    seconds: float
    message: str = ""  # the checker's complaint, trimmed

    def to_dict(self) -> dict:
        return asdict(self)


def available() -> dict[str, str | None]:
    """Prover name -> the executable found on PATH (None: missing)."""
    return {"coq": shutil.which("coqc"), "lean": shutil.which("lean") or shutil.which("lake")}


def extract_script(text: str) -> str:
    """The last fenced coq block (or the text), from its first `Proof.` on when it restates the theorem."""
    blocks = _FENCE.findall(text)
    script = blocks[-1] if blocks else text
    restated = re.search(r"^\s*(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Example)\b", script, re.MULTILINE)
    proof = re.search(r"\bProof\b", script)
    if restated and proof and restated.start() < proof.start():
        script = script[proof.start():]
    return script


def parse_statement(statement: str) -> tuple[str, str]:
    """`Theorem name (n : nat) : P n.` -> ("name", "forall (n : nat), P n")."""
    m = _STATEMENT.match(statement)
    if not m:
        raise ValueError(f"not a theorem statement: {statement[:80]!r}")
    _, name, rest = m.groups()
    depth = 0
    for i, ch in enumerate(rest):  # the colon that ends the binders is the first one outside brackets
        depth += {"(": 1, "{": 1, "[": 1, ")": -1, "}": -1, "]": -1}.get(ch, 0)
        if ch == ":" and depth == 0:
            binders, body = rest[:i].strip(), rest[i + 1:].strip()
            return name, (f"forall {binders}, {body}" if binders else body)
    raise ValueError(f"no ':' before the statement's type: {statement[:80]!r}")


PROVERS = ("coq", "lean")


def check_case(completion, statement, preamble="", prover="coq") -> None:
    """ValueError naming what is wrong with one proof case (before any prover runs)."""
    check_completion(completion)
    if not isinstance(statement, str):
        raise ValueError(f"statement: expected text, got {type(statement).__name__}")
    if not isinstance(preamble, str):
        raise ValueError(f"preamble: expected text, got {type(preamble).__name__}")
    if prover not in PROVERS:
        raise ValueError(f"prover: {prover!r} is not one of {', '.join(PROVERS)}")
    (parse_statement if prover == "coq" else parse_lean_statement)(statement)


class ProofVerifier:
    """Usable as a reward (`fn(prompts, completions, statement, preamble=None, **_)`) and directly."""

    __name__ = "proof_verifier"

    def __init__(self, *, limits: Limits = Limits(wall_s=20.0, cpu_s=20, memory_mb=2048, processes=16),
                 use_bwrap: bool | None = None, lean_project: str | None = None):
        self.lean_project = lean_project  # a Lake project (e.g. with Mathlib) to run `lake env lean` in
        toolchains = [p for exe in available().values() for p in install_prefixes(exe)]
        self.sandbox = Sandbox(limits, use_bwrap=use_bwrap, ro_paths=tuple(toolchains) + ((lean_project,) if lean_project else ()))

    def verify(self, completion, statement: str, *, preamble: str = "", prover: str = "coq") -> ProofResult:
        check_case(completion, statement, preamble, prover)
        start = time.perf_counter()
        if available().get(prover) is None:
            return ProofResult(0.0, prover, False, False, False, 0.0, f"prover {prover!r} is not available here")
        if prover == "lean":
            return self._lean(completion, statement, preamble, start)
        name, goal_type = parse_statement(statement)
        nonce = secrets.token_hex(8)
        goal, check = f"rlvr_goal_{nonce}", f"rlvr_check_{nonce}"
        script = extract_script(completion_text(completion) or "")
        candidate = f"{preamble}\n\nDefinition {goal} : Prop := {goal_type}.\n\n{statement}\n{script}\n"
        checks = f"Require Import Candidate.\nDefinition {check} : {goal} := {name}.\nPrint Assumptions {name}.\n"
        coqc = available()["coq"]
        # One sandboxed call: exit 10 means the candidate did not compile; otherwise the second coqc (a separate
        # process, so the candidate's own output cannot pose as the check's) decides.
        run = self.sandbox.run(
            ["/bin/sh", "-c", f"{coqc} -q -R . '' Candidate.v 1>&2 || exit 10; exec {coqc} -q -R . '' Check.v"],
            files={"Candidate.v": candidate, "Check.v": checks},
        )
        seconds = time.perf_counter() - start
        if run.timed_out:
            return ProofResult(0.0, "coq", False, False, False, seconds, "timeout")
        if run.returncode == 10:
            return ProofResult(0.0, "coq", False, False, False, seconds, _tail(run.stderr))
        out = run.stdout.decode("utf-8", errors="replace")
        same = run.returncode == 0
        closed = same and out.strip().endswith(CLOSED)
        msg = "" if closed else _tail(run.stdout + run.stderr)
        return ProofResult(float(closed), "coq", True, closed, same, seconds, msg)

    def _lean(self, completion, statement: str, preamble: str, start: float) -> ProofResult:
        name, goal_type = parse_lean_statement(statement)
        script = extract_lean_proof(completion_text(completion) or "")
        if re.search(r"set_option\s+debug\.|skipKernelTC", script):
            return ProofResult(0.0, "lean", False, False, False, time.perf_counter() - start, "kernel checks disabled")
        nonce = secrets.token_hex(8)
        source = (f"{preamble}\n\ndef rlvr_goal_{nonce} : Prop := {goal_type}\n\n{statement} {script}\n\n"
                  f"example : rlvr_goal_{nonce} := @{name}\n#print axioms {name}\n#eval IO.println \"rlvr-end-{nonce}\"\n")
        if self.lean_project:
            argv = ["/bin/sh", "-c", f"cd {self.lean_project} && exec lake env lean \"$OLDPWD/Candidate.lean\""]
        else:
            argv = [shutil.which("lean") or "lean", "Candidate.lean"]
        run = self.sandbox.run(argv, files={"Candidate.lean": source})
        seconds = time.perf_counter() - start
        if run.timed_out:
            return ProofResult(0.0, "lean", False, False, False, seconds, "timeout")
        out = run.stdout.decode("utf-8", errors="replace")
        accepted = run.returncode == 0
        closed, same = lean_axioms_ok(out, name, nonce), accepted
        return ProofResult(float(accepted and closed), "lean", accepted, closed, same, seconds,
                           "" if accepted and closed else _tail(run.stdout + run.stderr))

    def verify_batch(self, cases: list[dict], workers: int = 2) -> list[ProofResult]:
        """cases: {"completion", "statement", "preamble"?, "prover"?}; checked in parallel (each check is its
        own sandboxed process, so threads only wait)."""
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda c: self.verify(c["completion"], c["statement"], preamble=c.get("preamble") or "",
                                                       prover=c.get("prover") or "coq"), cases))

    def __call__(self, prompts, completions, statement, preamble=None, prover=None, **_) -> list[float]:
        n = len(completions)
        cases = [{"completion": c, "statement": s, "preamble": p, "prover": v}
                 for c, s, p, v in zip(completions, statement, preamble or [""] * n, prover or ["coq"] * n)]
        return [r.reward for r in self.verify_batch(cases)]


LEAN_STANDARD_AXIOMS = {"propext", "Classical.choice", "Quot.sound"}
_LEAN_STATEMENT = re.compile(r"^\s*(theorem|lemma)\s+([^\s(\[{:]+)(.*)$", re.DOTALL)


def parse_lean_statement(statement: str) -> tuple[str, str]:
    """`theorem foo (n : Nat) : n + 0 = n` -> ("foo", "∀ (n : Nat), n + 0 = n")."""
    m = _LEAN_STATEMENT.match(statement.strip().removesuffix(":="))
    if not m:
        raise ValueError(f"not a Lean theorem statement: {statement[:80]!r}")
    _, name, rest = m.groups()
    depth = 0
    for i, ch in enumerate(rest):
        depth += {"(": 1, "{": 1, "[": 1, "⦃": 1, ")": -1, "}": -1, "]": -1, "⦄": -1}.get(ch, 0)
        if ch == ":" and depth == 0 and rest[i + 1 : i + 2] != "=":
            binders, body = rest[:i].strip(), rest[i + 1 :].strip()
            return name, (f"∀ {binders}, {body}" if binders else body)
    raise ValueError(f"no ':' before the statement's type: {statement[:80]!r}")


def extract_lean_proof(text: str) -> str:
    """The proof term after `:=` (the last fenced lean block, or the text); `by ...` alone gets `:=`."""
    blocks = re.findall(r"```[ \t]*(?:lean4?)?[^\n]*\n(.*?)```", text, re.DOTALL)
    script = (blocks[-1] if blocks else text).strip()
    if re.match(r"(theorem|lemma)\b", script):
        _, sep, after = script.partition(":=")
        script = sep + after if sep else script
    return script if script.startswith(":=") else f":= {script}"


def lean_axioms_ok(output: str, name: str, nonce: str) -> bool:
    """True if the `#print axioms` report printed just before our end marker lists only standard axioms."""
    lines = [line.strip() for line in output.strip().splitlines()]
    marker = f"rlvr-end-{nonce}"
    if marker not in lines:
        return False
    before = " ".join(lines[: lines.index(marker)])
    if before.endswith(f"'{name}' does not depend on any axioms"):
        return True
    m = re.search(rf"'{re.escape(name)}' depends on axioms: \[([^\]]*)\]$", before)
    return bool(m) and {a.strip() for a in m.group(1).split(",")} <= LEAN_STANDARD_AXIOMS


def _tail(b: bytes, n: int = 400) -> str:
    return b.decode("utf-8", errors="replace").strip()[-n:]

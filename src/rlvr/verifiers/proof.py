"""Proof verifier: a real proof checker (Coq's `coqc`) decides; reward 1 only for a closed proof of exactly
the stated theorem.

Threat model: the proof script is written by a policy optimised to make `coqc` accept something. The task
fixes the statement (`Theorem name binders : type.`) and a trusted preamble; the completion supplies the
script (the last fenced coq block, or the text): a proof from `Proof.` on, or a whole file that restates the
theorem, with helper lemmas, `Require` lines and comments anywhere. Plan, in one sandboxed run (sandbox.py):
  1. Candidate.v = preamble, then `Definition rlvr_goal_<nonce> : Prop := <stated type>.`, then the
     completion (the statement inserted before its proof if the completion does not restate it). The goal is
     elaborated before any of the completion's text runs, so none of its notations, instances, coercions or
     flags exist yet; constants are immutable, so nothing later changes it (`Back`/`Reset` can only remove
     it, and the check then fails: its name carries a nonce the completion cannot know to define it again).
     Kept in this file rather than a Goal.vo of its own so that the preamble's definitions are shared (an
     `Inductive` declared twice would be two different types, and honest proofs about it would fail).
  2. `coqc` compiles it as the library RlvrCand.Candidate. Its output goes to stderr, never to the stdout the
     verdict is read from.
  3. Only Candidate.vo, as coqc wrote it after the last command, is copied into a folder created after the
     compile ended (Coq commands can write files, `Print Universes "X.vo"` included, but cannot create
     folders); the check runs there, in a second coqc process, with HOME and the XDG folders pointed away
     from the work folder. So the check loads the stdlib and that one file: nothing else the candidate wrote.
  4. Check.v: `Require RlvrCand.Candidate.` (no `Import`: the candidate's notations and coercions stay
     inactive), the typing flags switched back on (a candidate's `Global Unset Guard Checking` reaches files
     that Require it), then `Definition rlvr_check_<nonce> : <goal> := @<name>.` `@` inserts no implicit
     argument, so no candidate instance is filled in; whatever term the elaborator builds, the kernel checks
     it against the goal, and the audit is of this constant: `Print Assumptions rlvr_check_<nonce>`.
  5. The check's whole stdout, between nonce markers printed by the shell around that coqc, must be exactly
     "Closed under the global context". Axioms and parameters (also inside sections, modules and functor
     arguments), `admit` under `Qed`, definitions made with guard, positivity or universe checking off and
     definitional UIP are all listed there, so any of them fails, including stdlib axioms (Classical,
     FunctionalExtensionality...): a task that allows one states it as a hypothesis of the theorem.
  6. Print Assumptions misses a flagged definition that reaches the theorem through a functor's
     `Parameter Inline` field (Coq 8.16; upstream issues #12155, #16646, #22366): the field is replaced by the
     body, so the flagged constant never appears. So the same Candidate.vo is re-checked by `coqchk`, Coq's
     independent checker, which re-typechecks every definition of that library (the stdlib is trusted) with
     guard, positivity and universe checks on unless the .vo records them off, and then prints its own
     summary of the whole context. It must succeed, list no axiom outside the stdlib (`Coq.`; the candidate's
     are `RlvrCand.`) and list no definition relying on type-in-type, unsafe fixpoints or assumed positivity
     (`coqchk_report_ok`). Stdlib axioms a proof uses are still caught by step 5.
Before any of it, a candidate whose text switches a typing flag off (`Unset Guard/Positivity/Universe
Checking`, `#[bypass_check(...)]`, `Set Definitional UIP`) is refused: no honest proof does, and step 6 would
fail it anyway. The host's own work is linear in the completion: at most base.MAX_PROGRAM_CHARS characters, and
fenced blocks are found with str.find (a backtracking regex took a minute on 200,000 backticks).
Lean 4 (`lean` on PATH, or `lake env lean` inside `lean_project`) runs in one file (see `_lean`): the goal is a
`def` elaborated before the candidate, then `theorem rlvr_check : goal := @name`, `#print axioms rlvr_check`
and an end marker carrying the nonce are appended. Lean cannot keep a module's syntax out of a file that
imports it, so instead the candidate may not use the commands that could change how those appended lines
parse or elaborate, run code, or leave a scope open (`lean_refusal`). No Lean toolchain can be installed on
this project's machine, so the Lean path is covered by unit tests of its parsing, and its end-to-end tests
skip here.
`available()` reports which provers this machine has.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass

from rlvr.answers import check_completion, fenced_blocks
from rlvr.verifiers.base import SandboxedVerifier, program_text
from rlvr.verifiers.sandbox import Limits, Sandbox, install_prefixes

# A longer proof script (the last fenced block, or the whole text) scores 0 too: the host's sentence and comment
# scans are linear but in Python, ~1.5 s per million characters; no honest proof file comes near this.
MAX_SCRIPT_CHARS = 100_000
_STATEMENT = re.compile(r"^\s*(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Example)\s+([A-Za-z_][\w']*)(.*)\.\s*$", re.DOTALL)
CLOSED = "Closed under the global context"
# Sentences that open a proof of their own: a `Proof.` right after one of them is not the task theorem's.
_OPENS_PROOF = re.compile(r"(#\[[^\]]*\]\s*)?((Local|Global|Polymorphic|Monomorphic|Program)\s+)*(Theorem|Lemma|Fact|Remark|Corollary|"
                          r"Proposition|Property|Example|Definition|Fixpoint|CoFixpoint|Instance|Goal|Let|Next\s+Obligation)\b")
_LEADING = re.compile(r"(From\s+\S+\s+)?(Require|Import|Export)\b|((Local|Global)\s+)?(Open|Set|Unset)\b")


@dataclass
class ProofResult:
    reward: float
    prover: str
    accepted: bool  # the candidate file compiled
    closed: bool  # the check's assumption report is exactly the closed one, and coqchk's re-check is clean
    same_statement: bool  # the check's constant, equal to the candidate's theorem, has the goal's type
    seconds: float
    message: str = ""  # the checker's complaint, trimmed

    def to_dict(self) -> dict:
        return asdict(self)


def available() -> dict[str, str | None]:
    """Prover name -> the executable found on PATH (None: missing). Coq needs `coqchk` too (step 6)."""
    coq = shutil.which("coqc") if shutil.which("coqchk") else None
    return {"coq": coq, "lean": shutil.which("lean") or shutil.which("lake")}


# Typing-flag switches: every kernel check they turn off is one the check re-enables or coqchk re-runs, so this
# is defence in depth. Matched in the text with comments removed (a string mentioning one refuses too: only
# ever a false refusal, and no honest proof needs these words).
_FLAG_CHANGE = re.compile(r"\bUnset\s+(Guard|Positivity|Universe)\s+Checking\b|\bSet\s+Definitional\s+UIP\b|\bbypass_check\b")


def typing_flag_refusal(script: str) -> str | None:
    """Why a Coq candidate is refused before it runs (None: it may run): it switches a typing flag off."""
    for _, sentence in coq_sentences(script):
        if m := _FLAG_CHANGE.search(sentence):
            return f"refused: a typing flag switched off ({' '.join(m.group(0).split())!r})"
    return None


def coq_sentences(text: str) -> list[tuple[int, str]]:
    """(offset of its first character, text without comments) for each Coq sentence, split as Coq's lexer
    does: comments `(* *)` nest and a string inside a comment is lexed as one (so `(* " *) " *)` is a single
    comment); strings double `""` to escape a quote; a sentence ends with `.` before a space or the end."""
    sentences, buf, start, i, n, depth = [], [], None, 0, len(text), 0
    while i < n:
        c = text[i]
        if text.startswith("(*", i):
            depth, i = depth + 1, i + 2
            continue
        if depth and text.startswith("*)", i):
            depth, i = depth - 1, i + 2
            buf.append(" ") if not depth else None
            continue
        if c == '"':  # a string, in code or in a comment
            j = i + 1
            while j < n and not (text[j] == '"' and not text.startswith('""', j)):
                j += 2 if text.startswith('""', j) else 1
            if not depth:
                start = i if start is None else start
                buf.append(text[i:j + 1])
            i = j + 1
            continue
        if not depth:
            if start is None and not c.isspace():
                start = i
            if start is not None:
                buf.append(c)
            if c == "." and start is not None and (i + 1 == n or text[i + 1].isspace()) and not text.startswith("..", i - 1):
                sentences.append((start, "".join(buf).strip()))
                buf, start = [], None
        i += 1
    if start is not None and "".join(buf).strip():
        sentences.append((start, "".join(buf).strip()))
    return sentences


def _opens_proof(sentence: str) -> bool:
    return bool(_OPENS_PROOF.match(sentence)) and ":=" not in sentence  # `Definition x := 3.` has its body


def candidate_text(text: str, statement: str, name: str) -> str:
    """The completion as the candidate file's body (the last fenced coq block, or the text), kept whole, comments
    included. The task's statement goes before the first `Proof` that opens no statement of the completion's own
    (a `Proof.` right after `Lemma helper ...` is the helper's) unless the completion states `name` itself before
    that; a completion with neither gets it after its leading `Require`/`Import`/`Set` lines. The check compares
    the types anyway: a restatement with another type fails there."""
    blocks = fenced_blocks(text)
    script = blocks[-1] if blocks else text
    sentences = coq_sentences(script)
    states = re.compile(_OPENS_PROOF.pattern + rf"\s+{re.escape(name)}(?![\w'])")
    for k, (offset, s) in enumerate(sentences):
        if states.match(s):
            return script
        if re.match(r"Proof\b", s) and not (k and _opens_proof(sentences[k - 1][1])):
            at = offset
            break
    else:
        at = next((offset for offset, s in sentences if not _LEADING.match(s)), len(script))
    return f"{script[:at]}\n{statement}\n{script[at:]}"


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


# The sandboxed run. Exit 10: the candidate did not compile; 11: the check's folders could not be made fresh;
# 13: the check did not compile; 12: coqchk rejected Candidate.vo. {coqc}, {coqchk} and {nonce} are ours; nothing the completion wrote reaches
# this command line. coqchk reads lib_{nonce}, which holds only our copy of Candidate.vo; `-norec` re-checks
# that library and loads the stdlib it requires unchecked. The VM is on because coqc trusts it too: an honest
# `vm_compute` proof would otherwise be re-checked by slow lazy reduction. coqchk prints its summary on stderr, hence 2>&1.
_COQ_RUN = """set -u
mkdir cand && cp Candidate.v cand/ && cd cand || exit 11
{coqc} -q -Q . RlvrCand Candidate.v 1>&2 || exit 10
cd .. && mkdir lib_{nonce} chk_{nonce} || exit 11
cp cand/Candidate.vo lib_{nonce}/ && cp Check.v chk_{nonce}/ && cd chk_{nonce} || exit 11
echo rlvr-begin-{nonce}
env -i PATH=/usr/bin:/bin HOME=/nonexistent XDG_DATA_HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent \\
  {coqc} -q -Q ../lib_{nonce} RlvrCand Check.v
rc=$?
echo rlvr-end-{nonce}
[ $rc -eq 0 ] || exit 13
echo rlvr-chk-{nonce}
env -i PATH=/usr/bin:/bin HOME=/nonexistent XDG_DATA_HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent \\
  {coqchk} -silent -o -bytecode-compiler yes -Q ../lib_{nonce} RlvrCand -norec RlvrCand.Candidate 2>&1 || exit 12
echo rlvr-chk-end-{nonce}
"""


class ProofVerifier(SandboxedVerifier):
    """The verifier interface (`verifiers.base`) over cases {"completion", "statement", "preamble"?, "prover"?}: a
    reward (`fn(prompts, completions, statement, preamble=None, prover=None, **_)`), `verify`, `verify_batch`."""

    __name__ = "proof_verifier"
    reference = "statement"
    optional = ("preamble", "prover")

    @classmethod
    def check_case(cls, case: dict) -> None:
        check_case(case["completion"], case["statement"], case.get("preamble") or "", case.get("prover") or "coq")

    @classmethod
    def cli_options(cls, *, timeout_s: float | None, allow_unisolated: bool) -> dict:
        limits = {"limits": Limits(wall_s=timeout_s, cpu_s=int(timeout_s) + 1, memory_mb=2048)} if timeout_s else {}
        return {"allow_unisolated": allow_unisolated, **limits}

    def __init__(self, *, limits: Limits = Limits(wall_s=20.0, cpu_s=20, memory_mb=2048, processes=16),
                 use_bwrap: bool | None = None, lean_project: str | None = None, allow_unisolated: bool = False):
        """allow_unisolated: run proofs under the sandbox's rlimits-only fallback when bubblewrap cannot run
        (a hostile script could then read the host); without it such a run raises IsolationRequired."""
        self.lean_project = lean_project  # a Lake project (e.g. with Mathlib) to run `lake env lean` in
        toolchains = [p for exe in available().values() for p in install_prefixes(exe)]
        self.sandbox = Sandbox(limits, use_bwrap=use_bwrap, allow_unisolated=allow_unisolated,
                               ro_paths=tuple(toolchains) + ((lean_project,) if lean_project else ()))

    def verify(self, completion, statement: str, *, preamble: str = "", prover: str = "coq") -> ProofResult:
        check_case(completion, statement, preamble, prover)
        start = time.perf_counter()
        if available().get(prover) is None:
            return ProofResult(0.0, prover, False, False, False, 0.0, f"prover {prover!r} is not available here")
        self.sandbox.require_isolation("proof checks")
        text, why = _text_or_reason(completion)
        if why:
            return ProofResult(0.0, prover, False, False, False, time.perf_counter() - start, why)
        if prover == "lean":
            return self._lean(text, statement, preamble, start)
        name, goal_type = parse_statement(statement)
        nonce = secrets.token_hex(8)
        goal, check = f"rlvr_goal_{nonce}", f"rlvr_check_{nonce}"
        body = candidate_text(text, statement, name)
        if refusal := typing_flag_refusal(body):
            return ProofResult(0.0, "coq", False, False, False, time.perf_counter() - start, refusal)
        candidate = f"{preamble}\n\nDefinition {goal} : Prop := {goal_type}.\n\n{body}\n"
        checks = (f"Require RlvrCand.Candidate.\n"
                  "Set Guard Checking. Set Positivity Checking. Set Universe Checking. Unset Definitional UIP.\n"
                  "Unset Universe Polymorphism.\n"
                  f"Definition {check} : RlvrCand.Candidate.{goal} := @RlvrCand.Candidate.{name}.\n"
                  f"Print Assumptions {check}.\n")
        run = self.sandbox.run(["/bin/sh", "-c", _COQ_RUN.format(coqc=available()["coq"], coqchk=shutil.which("coqchk"), nonce=nonce)],
                               files={"Candidate.v": candidate, "Check.v": checks})
        seconds = time.perf_counter() - start
        if run.timed_out:
            return ProofResult(0.0, "coq", False, False, False, seconds, "timeout")
        if run.returncode in (10, 11):
            return ProofResult(0.0, "coq", False, False, False, seconds, _tail(run.stderr))
        check_out, _, chk_out = run.stdout.partition(f"rlvr-chk-{nonce}\n".encode())
        same = run.returncode in (0, 12)
        closed = same and coq_report_closed(check_out, nonce)
        if not closed:
            return ProofResult(0.0, "coq", True, False, same, seconds, _tail(check_out + run.stderr))
        if run.returncode == 12:
            return ProofResult(0.0, "coq", True, False, True, seconds, "coqchk rejected it: " + _tail(chk_out + run.stderr, 300))
        why = coqchk_report_problem(chk_out, nonce)
        return ProofResult(float(why is None), "coq", True, why is None, True, seconds, why or "")

    def _lean(self, text: str, statement: str, preamble: str, start: float) -> ProofResult:
        name, goal_type = parse_lean_statement(statement)
        helpers, script = split_lean_completion(text, name)
        refusal = lean_refusal(f"{helpers}\n{script}")
        if refusal:
            return ProofResult(0.0, "lean", False, False, False, time.perf_counter() - start, refusal)
        nonce = secrets.token_hex(8)
        check = f"rlvr_check_{nonce}"
        source = (f"{preamble}\n\ndef rlvr_goal_{nonce} : Prop := {goal_type}\n\n{helpers}\n\n{statement} {script}\n\n"
                  f"theorem {check} : rlvr_goal_{nonce} := @{name}\n#print axioms {check}\n"
                  f"#eval IO.println \"rlvr-end-{nonce}\"\n")
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
        closed, same = lean_axioms_ok(out, check, nonce), accepted
        return ProofResult(float(accepted and closed), "lean", accepted, closed, same, seconds,
                           "" if accepted and closed else _tail(run.stdout + run.stderr))

    def verify_case(self, case: dict) -> ProofResult:
        return self.verify(case["completion"], case["statement"], preamble=case.get("preamble") or "",
                           prover=case.get("prover") or "coq")

    def failed(self, case: dict, reason: str) -> ProofResult:
        return ProofResult(0.0, case.get("prover") or "coq", False, False, False, 0.0, reason)


def _text_or_reason(completion) -> tuple[str, str]:
    """(the completion's text, lone surrogates made "?") or ("", why it scores 0 before anything runs)."""
    text, why = program_text(completion)
    blocks = fenced_blocks(text)
    if not why and len(script := blocks[-1] if blocks else text) > MAX_SCRIPT_CHARS:
        return "", f"proof script: {len(script):,} characters, over the {MAX_SCRIPT_CHARS:,} limit"
    return text, why


_CHK_HEAD = ["CONTEXT SUMMARY", "===============", "* Theory: Set is predicative"]
_CHK_TAIL = ["* Constants/Inductives relying on type-in-type: <none>",
             "* Constants/Inductives relying on unsafe (co)fixpoints: <none>",
             "* Inductives whose positivity is assumed: <none>"]


def coqchk_report_problem(stdout: bytes, nonce: str) -> str | None:
    """None when coqchk's context summary (`-o`, after our start marker) is clean, else what is wrong. The
    summary covers the whole loaded context: the stdlib's axioms (`Coq.` names) are listed whenever a library
    declaring them is loaded, used or not, so they pass here (step 5 audits their use); any other axiom is the
    candidate's (its names are `RlvrCand.`), and no definition may rely on type-in-type, unsafe (co)fixpoints
    or assumed positivity, the stdlib's included. Compared line by line; anything unexpected fails."""
    lines = [line.strip() for line in stdout.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if not lines or lines[-1] != f"rlvr-chk-end-{nonce}":
        return "coqchk: no complete report"
    lines = lines[:-1]
    if lines[:3] != _CHK_HEAD or lines[-3:] != _CHK_TAIL:
        return "coqchk: " + " / ".join(line for line in lines if line not in _CHK_HEAD + _CHK_TAIL)[:300]
    axioms = lines[3:-3]
    if axioms == ["* Axioms: <none>"]:
        return None
    if len(axioms) < 2 or axioms[0] != "* Axioms:":
        return "coqchk: unexpected report: " + " / ".join(axioms)[:300]
    foreign = [a for a in axioms[1:] if not re.fullmatch(r"Coq\.[\w'.]+", a)]
    return f"coqchk: axioms outside the stdlib: {', '.join(foreign)[:300]}" if foreign else None


def coq_report_closed(stdout: bytes, nonce: str) -> bool:
    """The check's stdout, word for word, is our begin marker, the closed report and our end marker: nothing
    else printed, no axiom listed, no line before or after (any byte sequence is handled, never raised on)."""
    words = stdout.decode("utf-8", errors="replace").split()
    return words == [f"rlvr-begin-{nonce}", *CLOSED.split(), f"rlvr-end-{nonce}"]


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
    return split_lean_completion(text, None)[1]


def split_lean_completion(text: str, name: str | None) -> tuple[str, str]:
    """(helper declarations, proof from `:=` on) of a completion (the last fenced lean block, or the text). When
    it restates the theorem `name` (or, without a name, starts with `theorem`/`lemma`), what comes before is kept
    as helpers and the proof is what follows the restatement's first `:=`; otherwise the whole text is the proof."""
    blocks = fenced_blocks(text)
    script = (blocks[-1] if blocks else text).strip()
    helpers = ""
    m = (re.search(rf"(?m)^[ \t]*(?:@\[[^\]\n]*\]\s*)?(?:theorem|lemma)\s+{re.escape(name)}(?![\w'.!?])", script) if name
         else re.match(r"(theorem|lemma)\b", script))
    if m:
        helpers, script = script[:m.start()].strip(), script[m.start():]
        _, sep, after = script.partition(":=")
        script = sep + after if sep else script
    return helpers, (script if script.startswith(":=") else f":= {script}")


def lean_axioms_ok(output: str, name: str, nonce: str) -> bool:
    """True if the `#print axioms` report printed just before our end marker lists only standard axioms. The
    marker must be printed exactly once, as the last line (the candidate cannot print it, see `lean_refusal`),
    and `name` is the check's own nonce-named constant, so a report the candidate prints (e.g. with `trace`)
    cannot pose as the check's."""
    lines = [line.strip() for line in output.strip().splitlines()]
    marker = f"rlvr-end-{nonce}"
    if lines.count(marker) != 1 or lines[-1] != marker:
        return False
    before = " ".join(lines[:-1])
    if before.endswith(f"'{name}' does not depend on any axioms"):
        return True
    m = re.search(rf"'{re.escape(name)}' depends on axioms: \[([^\]]*)\]$", before)
    return bool(m) and {a.strip() for a in m.group(1).split(",")} <= LEAN_STANDARD_AXIOMS


# Lean commands a candidate may not use. The check's lines are appended to the candidate's file, and Lean has
# no way to keep a file's syntax out of what follows it, so refused are: syntax extensions (they can rewrite
# how `theorem`, `@name`, `#print axioms` or `#eval` after them parse or elaborate); anything that runs code
# while elaborating (it could read the file, learn the nonce and print a forged report); scopes and variables
# (an open `section` with `variable (h : False)` and `include h` turns the check into `False → goal`, whose
# axiom report is clean); `#exit`; and kernel-check switches.
_LEAN_REFUSED = {
    "a syntax extension": r"(?:scoped\s+|local\s+)?\b(macro_rules|macro|syntax|notation|infixl?|infixr|prefix|postfix|"
                          r"elab_rules|elab|declare_syntax_cat|binder_predicate)\b",
    "code run while elaborating": r"(#eval|#exit|#print|\brun_cmd\b|\brun_elab\b|\brun_meta\b|\brun_tac\b|\bby_elab\b|"
                                  r"\binitialize\b|\bbuiltin_initialize\b|\bunsafe\b|\bimport\b)",
    "a scope or variable the check would inherit": r"\b(section|namespace|end|variable|include|omit|universe|mutual)\b",
    "kernel checks disabled": r"(set_option\s+debug\.|skipKernelTC)",
}


def lean_refusal(script: str) -> str | None:
    """Why a Lean candidate is refused before it runs (None: it may run). Comments are ignored unless the text
    has a string literal (a `--` inside a string is not a comment; then the raw text is searched, so a
    comment mentioning a refused word refuses the candidate: only ever a false refusal, never a miss)."""
    text = script if '"' in script else _strip_lean_comments(script)
    for what, pattern in _LEAN_REFUSED.items():
        m = re.search(pattern, text)
        if m:
            return f"refused: {what} ({m.group(0).strip()!r})"
    # Attributes: the words inside each `@[...]` / `attribute [...]` (a word-by-word test: a regex with `[^\]]*`
    # then a word backtracked quadratically on many unclosed `@[`).
    for m in re.finditer(r"(?:@\[|\battribute\s*\[)([^\]]*)", text):
        for word in re.findall(r"[A-Za-z_]\w*", m.group(1)):
            if word in _LEAN_ATTRIBUTES or word.endswith("elab") or word.startswith("builtin_"):
                return f"refused: an attribute that changes elaboration or evaluation ({word!r})"
    return None


_LEAN_ATTRIBUTES = {"macro", "tactic", "delab", "app_unexpander", "implemented_by", "extern", "init", "csimp"}


def _strip_lean_comments(text: str) -> str:
    out, i, depth = [], 0, 0
    while i < len(text):
        if text.startswith("/-", i):
            depth, i = depth + 1, i + 2
        elif depth and text.startswith("-/", i):
            depth, i = depth - 1, i + 2
            out.append(" ")
        elif not depth and text.startswith("--", i):
            j = text.find("\n", i)
            i = len(text) if j < 0 else j
        else:
            out.append(text[i] if not depth else "")
            i += 1
    return "".join(out)


def _tail(b: bytes, n: int = 400) -> str:
    return b.decode("utf-8", errors="replace").strip()[-n:]

"""The proof verifier with Coq: 15 statements with honest proofs, whole honest files (helper lemmas, `Require` lines,
comments saying "Proof"), and every trick scores 0; the Lean path's parsing and refusals."""

import json
import time

import pytest

from rlvr.verifiers.proof import ProofVerifier, available, candidate_text, parse_statement

_coq_missing = pytest.mark.skipif(available()["coq"] is None, reason="coqc not found (make setup installs Debian's coq)")


def needs_coq(test):
    """Runs coqc (and coqchk): needs them, and is slow (a check takes 0.3 to 2 s)."""
    return pytest.mark.slow(_coq_missing(test))

# (statement, honest proof script)
HONEST = [
    ("Theorem add_0_r : forall n : nat, n + 0 = n.", "Proof. intros n. induction n; simpl; auto. Qed."),
    ("Theorem add_0_l : forall n : nat, 0 + n = n.", "Proof. reflexivity. Qed."),
    ("Lemma add_succ_r : forall n m : nat, n + S m = S (n + m).",
     "Proof. intros n m. induction n; simpl; auto. Qed."),
    ("Theorem add_comm : forall n m : nat, n + m = m + n.", "Proof. intros. lia. Qed."),
    ("Theorem and_swap (P Q : Prop) : P /\\ Q -> Q /\\ P.", "Proof. intros [p q]. split; assumption. Qed."),
    ("Theorem or_swap : forall P Q : Prop, P \\/ Q -> Q \\/ P.", "Proof. intros P Q [p|q]; [right|left]; assumption. Qed."),
    ("Theorem modus_ponens : forall P Q : Prop, P -> (P -> Q) -> Q.", "Proof. auto. Qed."),
    ("Theorem two_plus_two : 2 + 2 = 4.", "Proof. reflexivity. Qed."),
    ("Theorem mul_1_r : forall n : nat, n * 1 = n.", "Proof. intros. lia. Qed."),
    ("Theorem le_refl' : forall n : nat, n <= n.", "Proof. intros. apply le_n. Qed."),
    ("Theorem app_nil_r' : forall (A : Type) (l : list A), l ++ nil = l.",
     "Proof. intros A l. induction l as [|x l IH]; simpl; [reflexivity | rewrite IH; reflexivity]. Qed."),
    ("Theorem double_neg : forall P : Prop, P -> ~ ~ P.", "Proof. intros P p np. apply np. exact p. Qed."),
    ("Theorem eq_sym' : forall (A : Type) (x y : A), x = y -> y = x.", "Proof. intros A x y H. symmetry. exact H. Qed."),
    ("Theorem S_inj : forall n m : nat, S n = S m -> n = m.", "Proof. intros n m H. injection H. auto. Qed."),
    ("Theorem true_neq_false : true <> false.", "Proof. discriminate. Qed."),
]
PREAMBLE = "Require Import Lia List."

TRICKS = {
    "Admitted": lambda st: "Proof. Admitted.",
    "admit then Qed": lambda st: "Proof. admit. Qed.",
    "new Axiom": lambda st: f"Proof. Abort.\nAxiom cheat : forall P : Prop, P.\n{st}\nProof. apply cheat. Qed.",
    "new Parameter": lambda st: f"Proof. Abort.\nParameter cheat : forall P : Prop, P.\n{st}\nProof. apply cheat. Qed.",
    "Hypothesis in a section": lambda st: f"Proof. Abort.\nSection S. Hypothesis cheat : forall P : Prop, P.\n{st}\nProof. apply cheat. Qed.\nEnd S.",
    "Abort then an easier statement": lambda st: f"Proof. Abort.\nTheorem {parse_statement(st)[0]} : True.\nProof. exact I. Qed.",
    "guard checking off": lambda st: (
        "Proof. Abort.\nUnset Guard Checking.\nFixpoint loop (n : nat) : False := loop n.\n"
        f"{st}\nProof. exfalso. exact (loop 0). Qed."),
    "universe checking off": lambda st: (
        "Proof. Abort.\nUnset Universe Checking.\nDefinition T := Type.\nAxiom c : False.\n"
        f"{st}\nProof. destruct c. Qed."),
    "no proof at all": lambda st: "",
    "garbage": lambda st: "this is not Coq",
}


@pytest.fixture(scope="module")
def verifier():
    return ProofVerifier()


@needs_coq
@pytest.mark.parametrize("statement, proof", HONEST, ids=[parse_statement(s)[0] for s, _ in HONEST])
def test_honest_proofs_are_accepted(verifier, statement, proof):
    r = verifier.verify(f"Here is the proof:\n```coq\n{proof}\n```", statement, preamble=PREAMBLE)
    assert r.reward == 1.0, r.message


@needs_coq
@pytest.mark.parametrize("trick", sorted(TRICKS))
@pytest.mark.parametrize("statement", [HONEST[0][0], HONEST[4][0], HONEST[7][0]], ids=["add_0_r", "and_swap", "two_plus_two"])
def test_tricks_score_zero(verifier, trick, statement):
    r = verifier.verify(TRICKS[trick](statement), statement, preamble=PREAMBLE)
    assert r.reward == 0.0, (trick, r)


def _restate(st: str, binders: str = "", ty: str | None = None) -> str:
    """The task's theorem, restated with extra binders or another type."""
    name, goal = parse_statement(st)
    return f"Theorem {name} {binders} : {goal if ty is None else ty}."


# Issue 8: scripts outside testers found scoring 1.0 without proving the statement, one family per weakness.
# "old" marks those the verifier before the fix accepted (checked against a copy of it: see /work/notes/proof.md).
ATTACKS = {
    # 1. The assumption report was read as text the proof can shape: the check ended with "Closed under the global
    # context" when an axiom's printed type did, through a notation (old) or plain definitions named like words (old).
    "report forged by a notation": lambda st: (
        "Proof. Abort.\nNotation \"'Closed' 'under' 'the' 'global' 'context'\" := False.\n"
        f"Axiom cheat : False.\n{st}\nProof. destruct cheat. Qed."),
    "report forged by definitions": lambda st: (
        "Proof. Abort.\nDefinition Closed (a b c d : Prop) : Prop := False.\n"
        "Definition under := True. Definition the := True. Definition global := True. Definition context := True.\n"
        f"Axiom cheat : Closed under the global context.\n{st}\nProof. destruct cheat. Qed."),
    # 2. The check elaborated `name` with the candidate's instances and coercions active and audited `name`, not the
    # term it built: an implicit instance argument filled in by an axiom (old), or a coercion hiding one (old).
    "axiom instance filled in at the check": lambda st: (
        "Proof. Abort.\nClass Cheat := cheat : False.\nAxiom ax : Cheat.\n#[global] Existing Instance ax.\n"
        f"{_restate(st, '{H : Cheat}')}\nProof. destruct H. Qed."),
    "coercion from True carrying an axiom": lambda st: (
        "Proof. Abort.\nAxiom cheat : False.\n"
        f"Definition coe (t : True) : {parse_statement(st)[1]} := False_rect _ cheat.\n"
        f"Coercion coe : True >-> {'eq' if st == HONEST[7][0] else 'Funclass'}.\n"
        f"{_restate(st, ty='True')}\nProof. exact I. Qed."),
    # Others the design must keep stopping (the old verifier stopped them too).
    "axiom inside a functor argument": lambda st: (
        "Proof. Abort.\nModule Type S. Axiom cheat : False. End S.\nDeclare Module M : S.\n"
        f"{st}\nProof. destruct M.cheat. Qed."),
    "guard checking off, locally in a module": lambda st: (
        "Proof. Abort.\nModule M. Local Unset Guard Checking.\nFixpoint loop (n : nat) : False := loop n.\nEnd M.\n"
        f"{st}\nProof. destruct (M.loop 0). Qed."),
    "positivity checking off, no axiom": lambda st: (
        "Proof. Abort.\nUnset Positivity Checking.\nInductive Bad := mk : (Bad -> False) -> Bad.\nSet Positivity Checking.\n"
        "Definition out (b : Bad) : False := match b with mk f => f b end.\n"
        f"{st}\nProof. destruct (out (mk out)). Qed."),
    "universe checking off, Hurkens' paradox, no axiom": lambda st: (
        "Proof. Abort.\nRequire Coq.Logic.Hurkens.\nUnset Universe Checking.\n"
        "Definition bad : False := Coq.Logic.Hurkens.TypeNeqSmallType.paradox _ eq_refl.\nSet Universe Checking.\n"
        f"{st}\nProof. destruct bad. Qed."),
    "global flags left off for the check": lambda st: (
        "Proof. Abort.\nGlobal Unset Guard Checking.\nGlobal Set Printing All.\n"
        f"Fixpoint loop (n : nat) : False := loop n.\n{st}\nProof. destruct (loop 0). Qed."),
    "stdlib axiom (classical logic) in an honest proof": lambda st: (  # the proof term uses `classic`, nothing else
        f"From Coq Require Import Classical.\n{st}\nProof. destruct (classic True) as [_|n]; [|destruct (n I)].\n"
        + dict(HONEST)[st].removeprefix("Proof.")),
    "writes files named like the check's, then admits": lambda st: (
        "Print Universes \"Check.vo\".\nPrint Universes \"../Candidate.vo\".\nRedirect \"Check\" Print nat.\n"
        "Require Extraction.\nExtraction \"RlvrCand\" nat.\n" f"{st}\nProof. Admitted."),
    "Reset Initial, then an easier theorem": lambda st: (
        f"Proof. Abort.\nReset Initial.\nTheorem {parse_statement(st)[0]} : True.\nProof. exact I. Qed."),
    "opaque proof over admit, with forged output": lambda st: (
        "Proof. Abort.\nGoal True. idtac \"Closed under the global context\". exact I. Qed.\n"
        f"{st}\nProof. admit. Qed.\nPrint Assumptions {parse_statement(st)[0]}."),
}
OLD_ACCEPTED = ["report forged by a notation", "report forged by definitions", "axiom instance filled in at the check",
                "coercion from True carrying an axiom"]


@needs_coq
@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("statement", [HONEST[0][0], HONEST[4][0], HONEST[7][0]], ids=["add_0_r", "and_swap", "two_plus_two"])
def test_issue8_attacks_score_zero(verifier, attack, statement):
    r = verifier.verify(f"```coq\n{ATTACKS[attack](statement)}\n```", statement, preamble=PREAMBLE)
    assert r.reward == 0.0, (attack, r)
    if attack in OLD_ACCEPTED:  # it compiled: what stopped it is the check
        assert r.accepted and not r.closed, r
    if attack.startswith("stdlib axiom"):
        assert r.accepted and r.same_statement and "classic" in r.message, r


# Honest whole files. The old script extraction mangled the first four (it cut from the first "Proof" on, dropping
# `Require` lines and helper lemmas, or kept a restatement after a comment mentioning "Proof"); the last two it
# accepted, and they stay accepted. No preamble: the file's own `Require` lines must survive.
HONEST_FILES = {
    "Require before the theorem": ("Theorem add_comm : forall n m : nat, n + m = m + n.",
                                   "Require Import Lia.\nTheorem add_comm : forall n m : nat, n + m = m + n.\nProof. intros. lia. Qed."),
    "helper lemma first": ("Theorem add_0_r : forall n : nat, n + 0 = n.",
                           "Lemma helper : forall n : nat, n = n + 0.\nProof. induction n; simpl; congruence. Qed.\n\n"
                           "Theorem add_0_r : forall n : nat, n + 0 = n.\nProof. intros n. symmetry. apply helper. Qed."),
    "comments saying Proof": ("Theorem mul_1_r : forall n : nat, n * 1 = n.",
                              "(* Proof sketch: lia does it. Proof. *)\nFrom Coq Require Import Lia.\n"
                              "(* Theorem mul_1_r : False. *)\nTheorem mul_1_r : forall n : nat, n * 1 = n.\n"
                              "Proof. (* Proof. *) intros. (* \"Proof.\" *) lia. Qed. (* end of Proof *)"),
    "helpers, no restatement": ("Theorem add_0_r : forall n : nat, n + 0 = n.",
                                "Require Import Lia.\nLemma helper (n : nat) : n + 0 = n.\nProof. lia. Qed.\n"
                                "(* main Proof *)\nProof. exact helper. Qed."),
    "own notation, instance and output": ("Theorem two_plus_two : 2 + 2 = 4.",
                                          "Notation \"'four'\" := 4.\nClass C := c : nat.\n#[global] Instance i : C := 0.\n"
                                          "Theorem two_plus_two : 2 + 2 = four.\nProof. idtac \"Closed under the global context\". "
                                          "reflexivity. Qed.\nPrint Assumptions two_plus_two."),
    "Require only, bare tactics": ("Theorem add_comm : forall n m : nat, n + m = m + n.", "Require Import Lia.\nintros. lia. Qed."),
}


@needs_coq
@pytest.mark.parametrize("case", sorted(HONEST_FILES))
def test_honest_whole_files_are_accepted(verifier, case):
    st, text = HONEST_FILES[case]
    r = verifier.verify(f"Here it is:\n```coq\n{text}\n```", st)
    assert r.reward == 1.0, r.message


@needs_coq
def test_preamble_definitions_are_shared_with_the_candidate(verifier):
    preamble = "Inductive color := red | green.\nDefinition flip (c : color) := match c with red => green | green => red end."
    st = "Theorem flip_flip : forall c : color, flip (flip c) = c."
    assert verifier.verify("Proof. destruct c; reflexivity. Qed.", st, preamble=preamble).reward == 1.0
    assert verifier.verify("Proof. Abort.\nInductive color := red.\nDefinition flip (c : color) := c.\n"
                           f"{st}\nProof. reflexivity. Qed.", st, preamble=preamble).reward == 0.0


@needs_coq
def test_hostile_output_and_text_never_crash(verifier):
    st, proof = HONEST[7]
    noisy = f"Goal True. do 30000 idtac \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\". exact I. Qed.\n{st}\n{proof}"
    assert verifier.verify(noisy, st).reward == 1.0  # megabytes on stderr: the verdict is read elsewhere
    assert verifier.verify(f"(* \udcff *) {proof}", st).reward == 1.0  # a lone surrogate in the text
    assert verifier.verify(f"{proof}\n(* unterminated", st).reward == 0.0


def test_report_is_compared_exactly():
    from rlvr.verifiers.proof import coq_report_closed

    n = "abc"
    assert coq_report_closed(b"rlvr-begin-abc\nClosed under the global context\nrlvr-end-abc\n", n)
    assert not coq_report_closed(b"rlvr-begin-abc\nAxioms:\nx : Closed under the global context\nrlvr-end-abc\n", n)
    assert not coq_report_closed(b"Closed under the global context\nrlvr-end-abc\n", n)
    assert not coq_report_closed(b"rlvr-begin-abc\n\xff\xfeClosed under the global context\nrlvr-end-abc\n", n)


def test_sentences_and_insertion_follow_coq_lexing():
    from rlvr.verifiers.proof import coq_sentences

    # a string inside a comment is lexed, so its "*)" does not end the comment
    assert [s for _, s in coq_sentences('(* a "*)" Proof. *) Lemma x : True. exact I.')] == ["Lemma x : True.", "exact I."]
    st = "Theorem t : True."
    assert candidate_text("Lemma h : True. Proof. exact I. Qed.\nProof. exact h. Qed.", st, "t") == \
        "Lemma h : True. Proof. exact I. Qed.\n\nTheorem t : True.\nProof. exact h. Qed."
    assert candidate_text("Definition d := I.\nProof. exact d. Qed.", st, "t") == \
        "Definition d := I.\n\nTheorem t : True.\nProof. exact d. Qed."  # a Definition with its body opens no proof
    assert candidate_text("(* Theorem t : True. *) Proof. exact I. Qed.", st, "t") == \
        "(* Theorem t : True. *) \nTheorem t : True.\nProof. exact I. Qed."  # a commented-out statement is no restatement


@needs_coq
def test_unisolated_runs_need_the_opt_in():
    from rlvr.verifiers.sandbox import IsolationRequired

    st, proof = HONEST[7]
    with pytest.raises(IsolationRequired):
        ProofVerifier(use_bwrap=False).verify(proof, st)
    v = ProofVerifier(use_bwrap=False, allow_unisolated=True)
    assert v.verify(proof, st).reward == 1.0
    assert v.verify(ATTACKS["axiom instance filled in at the check"](st), st).reward == 0.0


@needs_coq
def test_restated_theorem_in_the_completion_is_fine(verifier):
    st, proof = HONEST[0]
    assert verifier.verify(f"```coq\n{st}\n{proof}\n```", st).reward == 1.0
    assert candidate_text(f"{st}\n{proof}", st, "add_0_r") == f"{st}\n{proof}"  # kept whole, not restated twice


@needs_coq
def test_non_terminating_tactic_times_out():
    from rlvr.verifiers.sandbox import Limits

    v = ProofVerifier(limits=Limits(wall_s=3.0, cpu_s=5, memory_mb=2048, processes=16))
    start = time.perf_counter()
    r = v.verify("Proof. do 1000000000 idtac. exact I. Qed.", "Theorem t : True.")  # minutes of work
    assert (r.reward, r.message) == (0.0, "timeout")
    assert time.perf_counter() - start < 3.0 + 4.0


@needs_coq
def test_cli_verify_proof(run_rlvr, tmp_path):
    cases = tmp_path / "cases.jsonl"
    st, proof = HONEST[7]
    cases.write_text(json.dumps({"completion": proof, "statement": st}) + "\n"
                     + json.dumps({"completion": "Proof. Admitted.", "statement": st}) + "\n")
    out = [json.loads(l) for l in run_rlvr("verify", "proof", "--file", str(cases)).stdout.splitlines()]
    assert [o["reward"] for o in out] == [1.0, 0.0]
    listing = run_rlvr("verify", "proof", "--list").stdout
    assert "coq: /" in listing and "lean: not available" in listing


# --- Lean 4: the parsing runs everywhere; end-to-end runs need a Lean toolchain, which this machine lacks.
from rlvr.verifiers.proof import extract_lean_proof, lean_axioms_ok, parse_lean_statement, split_lean_completion  # noqa: E402


def test_lean_statement_and_proof_parsing():
    assert parse_lean_statement("theorem foo (n : Nat) {α : Type} : n + 0 = n") == ("foo", "∀ (n : Nat) {α : Type}, n + 0 = n")
    assert parse_lean_statement("theorem two : 1 + 1 = 2 :=") == ("two", "1 + 1 = 2")
    assert extract_lean_proof("```lean\ntheorem two : 1 + 1 = 2 := by decide\n```") == ":= by decide"
    assert extract_lean_proof("by simp") == ":= by simp"
    # a helper lemma before the restated theorem stays, as a helper (the first `:=` is not the theorem's)
    text = "```lean\ntheorem helper : 1 = 1 := rfl\n\ntheorem two : 1 + 1 = 2 := by\n  decide\n```"
    assert split_lean_completion(text, "two") == ("theorem helper : 1 = 1 := rfl", ":= by\n  decide")
    assert split_lean_completion("by decide", "two") == ("", ":= by decide")


def test_lean_axiom_report_must_be_ours_and_standard():
    n = "abc"
    ok = "'two' does not depend on any axioms\nrlvr-end-abc"
    assert lean_axioms_ok(ok, "two", n)
    assert lean_axioms_ok("'two' depends on axioms: [propext, Quot.sound]\nrlvr-end-abc", "two", n)
    assert not lean_axioms_ok("'two' depends on axioms: [sorryAx]\nrlvr-end-abc", "two", n)
    assert not lean_axioms_ok("'two' depends on axioms: [Lean.ofReduceBool]\nrlvr-end-abc", "two", n)
    assert not lean_axioms_ok("'two' does not depend on any axioms\n", "two", n)  # our marker never printed
    forged = "'two' does not depend on any axioms\n'two' depends on axioms: [sorryAx]\nrlvr-end-abc"
    assert not lean_axioms_ok(forged, "two", n)  # only the report right before the marker counts
    # a candidate that learnt the nonce printing report and marker first: the marker must be printed once, last
    forged = "'two' does not depend on any axioms\nrlvr-end-abc\n'two' depends on axioms: [sorryAx]\nrlvr-end-abc"
    assert not lean_axioms_ok(forged, "two", n)
    assert not lean_axioms_ok("'two' does not depend on any axioms\nrlvr-end-abc\nwarning: unused", "two", n)


# Lean candidates that could steer the check lines appended after them (one file: Lean cannot keep an earlier
# command's syntax out of later ones), run code that reads the nonce from the file, or scope the check.
LEAN_ATTACKS = [
    ":= by sorry\nmacro_rules | `(#print axioms $x) => `(#check $x)",
    ":= by sorry\nlocal notation \"rlvr\" => 1",
    ":= by sorry\nelab \"#print\" \"axioms\" x:ident : command => pure ()",
    ":= by sorry\n#eval do IO.println ((← IO.FS.readFile \"Candidate.lean\").take 10)",
    ":= h.elim\nsection\nvariable (h : False)\ninclude h",
    ":= by sorry\nnamespace Foo\ntheorem two_eq : True := trivial",
    ":= by\n  run_tac Lean.logInfo \"'x' does not depend on any axioms\"",
    ":= by sorry\n@[command_elab Lean.Parser.Command.print] def f : Lean.Elab.Command.CommandElab := fun _ => pure ()",
    ":= by decide\nset_option debug.skipKernelTC true in\ntheorem x : False := sorry",
    ':= by simp -- "\nmacro_rules | `(tactic| simp) => `(tactic| sorry)',  # a "--" my comment stripper could misread
    ":= by simp\n/- comment -/ syntax \"evil\" : term",
]
LEAN_HONEST = [":= by decide", ":= by\n  -- the end of this section: a variable, notation and macro are not used\n  simp",
               ":= by\n  /- nested /- comment -/ with section -/\n  omega", ":= by\n  set_option maxRecDepth 1000 in simp",
               ":= fun n => Nat.add_zero n", ":= by\n  intro h\n  exact h.elim"]


@pytest.mark.parametrize("script", LEAN_ATTACKS)
def test_lean_commands_that_steer_the_check_are_refused(script):
    from rlvr.verifiers.proof import lean_refusal

    assert lean_refusal(script), script


@pytest.mark.parametrize("script", LEAN_HONEST)
def test_lean_honest_scripts_are_not_refused(script):
    from rlvr.verifiers.proof import lean_refusal

    assert lean_refusal(script) is None


@pytest.mark.skipif(available()["lean"] is None, reason="no Lean 4 toolchain on PATH; it cannot be installed on this machine")
def test_lean_honest_and_sorry():
    v = ProofVerifier()
    st = "theorem two_eq : 1 + 1 = 2"
    assert v.verify("by decide", st, prover="lean").reward == 1.0
    assert v.verify("by sorry", st, prover="lean").reward == 0.0
    assert v.verify("by native_decide", st, prover="lean").reward == 0.0
    for attack in LEAN_ATTACKS:
        assert v.verify(attack, st, prover="lean").reward == 0.0, attack


@needs_coq
def test_code_and_proof_verifiers_are_builtin_rewards():
    from rlvr import config, rewards, tasks

    cfg = config.load(preset="smoke", overrides=["rewards=[{name: proof_verifier}, {name: code_verifier, args: {all_or_nothing: true}}]"])
    task = tasks.build(cfg.task)
    proof, code = (rewards.resolve(spec, task) for spec in cfg.rewards)
    st, honest = HONEST[7]
    assert proof.fn(["q", "q"], [honest, "Proof. Admitted."], statement=[st, st]) == [1.0, 0.0]
    tests = {"language": "python", "entry_point": "f", "tests": [{"args": [2], "expected": 4}]}
    assert code.fn(["q"], ["def f(x): return x * 2"], tests=[tests]) == [1.0]


# --- Round 2: a flagged definition hidden behind a functor's `Parameter Inline` field (Coq 8.16's Print Assumptions
# misses it: upstream #12155 / #16646 / #22366). Both scored 1.0 on "False" before coqchk re-checked the .vo.
INLINE_ATTACKS = {
    "guard off behind an Inline functor parameter": (
        "Module Type S. Parameter Inline T : nat -> False. End S.\n"
        "Module F (X : S). Definition loop : nat -> False := X.T. End F.\n"
        "Module X. Local Unset Guard Checking. Fixpoint T (n : nat) : False := T (S n). End X.\n"
        "Module M := F X.\n", "(M.loop 0)"),
    "universe checking off behind an Inline functor parameter": (
        "Require Import Coq.Logic.Hurkens.\nModule Type T. Parameter Inline bad : False. End T.\n"
        "Module T1. Unset Universe Checking. Definition bad := PropNeqType.paradox eq_refl. Set Universe Checking. End T1.\n"
        "Module T2 (F : T). Definition bad := F.bad. End T2.\nModule T3 := T2 T1.\n", "T3.bad"),
}
FALSE_STATEMENTS = ["Theorem t : False.", "Theorem t : 1 = 2.", "Theorem t (n : nat) : n + 1 = n."]


@needs_coq
@pytest.mark.parametrize("flags_refused", [True, False], ids=["as-is", "text-refusal-off"])
@pytest.mark.parametrize("attack", sorted(INLINE_ATTACKS))
@pytest.mark.parametrize("statement", FALSE_STATEMENTS, ids=["False", "1=2", "n+1=n"])
def test_flags_hidden_behind_inline_functor_parameters_score_zero(verifier, monkeypatch, attack, statement, flags_refused):
    """Refused by the text check; with that check switched off, the coqchk re-check stops it (each layer alone)."""
    from rlvr.verifiers import proof

    if not flags_refused:
        monkeypatch.setattr(proof, "typing_flag_refusal", lambda script: None)
    setup, false_term = INLINE_ATTACKS[attack]
    r = verifier.verify(f"```coq\n{setup}{statement}\nProof. intros. destruct {false_term}. Qed.\n```", statement)
    assert r.reward == 0.0, r
    assert r.message.startswith("refused: a typing flag" if flags_refused else "coqchk"), r.message


def test_typing_flag_switches_are_refused_outside_comments():
    from rlvr.verifiers.proof import typing_flag_refusal

    for script in ["Local Unset Guard Checking.", "#[local] Unset (* x *) Positivity\nChecking.", "Global Unset Universe Checking.",
                   "#[bypass_check(guard)] Fixpoint f (n : nat) : False := f n.", "Set Definitional UIP."]:
        assert typing_flag_refusal(f"Proof. Abort.\n{script}\nTheorem t : True. exact I. Qed."), script
    for script in ["(* Unset Guard Checking. *) Proof. exact I. Qed.", "Set Guard Checking. Unset Definitional UIP.",
                   *[proof for _, proof in HONEST], *[text for _, text in HONEST_FILES.values()]]:
        assert typing_flag_refusal(script) is None, script


def test_coqchk_summary_is_read_strictly():
    from rlvr.verifiers.proof import coqchk_report_problem

    def summary(axioms="* Axioms: <none>", tt="<none>", fix="<none>", pos="<none>", end="rlvr-chk-end-n"):
        return (f"\nCONTEXT SUMMARY\n===============\n\n* Theory: Set is predicative\n  \n{axioms}\n  \n"
                f"* Constants/Inductives relying on type-in-type: {tt}\n  \n"
                f"* Constants/Inductives relying on unsafe (co)fixpoints: {fix}\n  \n"
                f"* Inductives whose positivity is assumed: {pos}\n  \n{end}\n").encode()

    assert coqchk_report_problem(summary(), "n") is None
    assert coqchk_report_problem(summary("* Axioms:\n    Coq.Logic.Classical_Prop.classic"), "n") is None  # step 5's job
    assert "RlvrCand.Candidate.M.x" in coqchk_report_problem(summary("* Axioms:\n    RlvrCand.Candidate.M.x"), "n")
    assert coqchk_report_problem(summary(tt="\n    RlvrCand.Candidate.bad"), "n")
    assert coqchk_report_problem(summary(fix="\n    Coq.Init.Nat.f"), "n")  # the stdlib's count too
    assert coqchk_report_problem(summary(pos="\n    RlvrCand.Candidate.B"), "n")
    assert coqchk_report_problem(summary(end=""), "n")  # no end marker: coqchk did not finish
    assert coqchk_report_problem(summary().replace(b"predicative", b"impredicative"), "n")
    assert coqchk_report_problem(b"", "n")


# Host-side work on pathological text: the fence regex this replaced took 6 s on 64,000 backticks and 57 s on
# 200,000 (quadratic backtracking); the Lean attribute regex was quadratic on many unclosed `@[`.
_OLD_FENCE = r"```[ \t]*(?:coq|rocq|v)?[^\n]*\n(.*?)```"


def test_fenced_blocks_match_the_old_regex_on_small_texts():
    import random
    import re

    from rlvr.verifiers.proof import fenced_blocks

    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice("``` \ncv") for _ in range(rng.randrange(30)))
        assert fenced_blocks(text) == re.findall(_OLD_FENCE, text, re.DOTALL), repr(text)


@needs_coq
@pytest.mark.parametrize("text", ["`" * 200_000, "```\n" * 100_000, "```coq\n" + "x. " * 300_000, "``" + "\n`" * 200_000,
                                  "(*" * 45_000, "@[" * 45_000 + "a" * 9_000, "Proof. " * 14_000, "\"" * 99_999])
def test_host_side_work_is_linear(verifier, monkeypatch, text):
    """Everything verify does before the sandbox starts (the run is stubbed out), and the Lean parsing."""
    from rlvr.verifiers import proof

    monkeypatch.setattr(verifier.sandbox, "run", lambda *a, **k: type("Run", (), {"timed_out": True})())
    monkeypatch.setattr(proof, "available", lambda: {"coq": "/bin/true", "lean": None})
    start = time.perf_counter()
    assert verifier.verify(text, "Theorem t : False.").reward == 0.0
    script = (proof.fenced_blocks(text) or [text])[-1][:proof.MAX_SCRIPT_CHARS]
    proof.split_lean_completion(script, "t")
    proof.lean_refusal(script)
    assert time.perf_counter() - start < 1.0


@needs_coq
def test_overlong_completions_score_zero_before_anything_runs(verifier):
    from rlvr.verifiers.base import MAX_PROGRAM_CHARS as MAX_COMPLETION_CHARS

    start = time.perf_counter()
    r = verifier.verify("`" * (MAX_COMPLETION_CHARS + 1), "Theorem t : False.")
    assert r.reward == 0.0 and "over the 1,000,000 limit" in r.message
    assert time.perf_counter() - start < 0.5


@needs_coq
def test_chat_content_parts_never_raise(verifier):
    """Chat content given as a list of parts (it raised TypeError in verify_batch until rlvr.answers.completion_text
    learnt to read parts): text parts are read, other content is no text."""
    st, proof = HONEST[7]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "```coq"}, {"type": "text", "text": f"{proof}\n```"}]}]
    image = [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
    number = [{"role": "assistant", "content": 3}]
    admitted = [{"role": "assistant", "content": [{"type": "text", "text": "Proof. Admitted."}]}]
    results = verifier.verify_batch([{"completion": c, "statement": st} for c in (parts, image, number, admitted)])
    assert [r.reward for r in results] == [1.0, 0.0, 0.0, 0.0], results


@needs_coq
def test_a_sample_never_makes_verify_batch_raise(verifier, monkeypatch):
    """An unforeseen failure on one sample scores it 0 with the reason; a malformed case raises, naming it."""
    from rlvr.verifiers import proof

    def boom(*a):
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(proof, "candidate_text", boom)
    st = HONEST[7][0]
    r = verifier.verify_batch([{"completion": "Proof. reflexivity. Qed.", "statement": st}])[0]
    assert (r.reward, r.message) == (0.0, "verifier error: RuntimeError: unforeseen")
    with pytest.raises(ValueError, match="case 1: statement"):
        verifier.verify_batch([{"completion": "", "statement": st}, {"completion": "", "statement": 3}])

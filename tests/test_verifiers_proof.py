"""The proof verifier with Coq: 15 statements with honest proofs, and every trick scores 0."""

import json
import time

import pytest

from rlvr.verifiers.proof import ProofVerifier, available, extract_script, parse_statement

needs_coq = pytest.mark.skipif(available()["coq"] is None, reason="coqc not found (make setup installs Debian's coq)")

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


@needs_coq
def test_restated_theorem_in_the_completion_is_fine(verifier):
    st, proof = HONEST[0]
    assert verifier.verify(f"```coq\n{st}\n{proof}\n```", st).reward == 1.0
    assert extract_script(f"{st}\n{proof}") == proof


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
from rlvr.verifiers.proof import extract_lean_proof, lean_axioms_ok, parse_lean_statement  # noqa: E402


def test_lean_statement_and_proof_parsing():
    assert parse_lean_statement("theorem foo (n : Nat) {α : Type} : n + 0 = n") == ("foo", "∀ (n : Nat) {α : Type}, n + 0 = n")
    assert parse_lean_statement("theorem two : 1 + 1 = 2 :=") == ("two", "1 + 1 = 2")
    assert extract_lean_proof("```lean\ntheorem two : 1 + 1 = 2 := by decide\n```") == ":= by decide"
    assert extract_lean_proof("by simp") == ":= by simp"


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


@pytest.mark.skipif(available()["lean"] is None, reason="no Lean 4 toolchain on PATH; it cannot be installed on this machine")
def test_lean_honest_and_sorry():
    v = ProofVerifier()
    st = "theorem two_eq : 1 + 1 = 2"
    assert v.verify("by decide", st, prover="lean").reward == 1.0
    assert v.verify("by sorry", st, prover="lean").reward == 0.0
    assert v.verify("by native_decide", st, prover="lean").reward == 0.0


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

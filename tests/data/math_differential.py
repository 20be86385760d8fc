"""Generated answer pairs for the differential test of rlvr's math verifier against math-verify.

`pairs(n, seed)` returns (completion, gold, label) triples: a gold value in a canonical form and a completion
that writes either the same value in another form (label 1) or a near miss (label 0). The label is known by
construction, so each verifier's verdict can be checked, and every case where the two disagree is listed with a
triage in math_disagreements.jsonl (who is right and why, from `triage`, whose rules were written by reading
the cases). `python tests/data/math_differential.py` rewrites that file.
"""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction
from math import gcd
from pathlib import Path

WRAP = [lambda f: f"So the answer is $\\boxed{{{f}}}$.", lambda f: f"The final answer is ${f}$.", lambda f: f"<answer>{f}</answer>"]


def _frac(p: int, q: int) -> str:
    return f"\\frac{{{p}}}{{{q}}}" if p >= 0 else f"-\\frac{{{-p}}}{{{q}}}"


def _integer(r: random.Random):
    n = r.randint(-50, 999)
    same = [f"{n}.0", f"{_frac(2 * n, 2)}", f"{n} \\text{{ cm}}", f"x = {n}", f"{n:,}" if n >= 1000 else f"{n}", f"({n})"]
    other = [f"{n + 1}", f"{n}x", f"{n}i", f"{n}n", f"{n}.01", f"{n} \\text{{ or }} {n + 1}", f"\\{{{n}, {n + 1}\\}}"]
    return str(n), same, other


def _fraction(r: random.Random):
    q = r.choice([3, 4, 5, 6, 7, 8, 9, 12])
    p = r.choice([k for k in range(1, 4 * q) if gcd(k, q) == 1])
    v = Fraction(p, q)
    same = [f"{p}/{q}", f"\\dfrac{{{p}}}{{{q}}}", _frac(2 * p, 2 * q)]
    if v.denominator in (4, 5, 8):
        same.append(str(float(v)))
    else:
        same.append(f"{float(v):.10f}")  # a written approximation of a non-terminating value
    if p > q:
        same.append(f"{p // q} {p % q}/{q}")  # a mixed number
        same.append(f"{p // q}\\frac{{{p % q}}}{{{q}}}")
    if p < 10 and q < 10:
        same.append(f"\\frac{p}{q}")  # shorthand
    rounded = float(v) + (0.01 if v.denominator in (4, 5) else 0)  # 2.80 is exactly 14/5: not a near miss
    other = [_frac(q, p), _frac(p, q + 1), f"{rounded:.2f}", _frac(-p, q), f"{p}{q}"]
    return _frac(p, q), same, other


def _radical(r: random.Random):
    k, m = r.randint(2, 6), r.choice([2, 3, 5, 6, 7])
    same = [f"\\sqrt{{{k * k * m}}}", f"{k}\\sqrt {m}", f"\\sqrt{{{m}}}\\cdot {k}", f"{k * k * m}^{{1/2}}"]
    other = [f"\\sqrt{{{k * m}}}", f"{k + 1}\\sqrt{{{m}}}", f"{k}\\sqrt{{{m}}}+10^{{-30}}", f"{k}"]
    return f"{k}\\sqrt{{{m}}}", same, other


def _structure(r: random.Random):
    a, b = r.sample(range(-9, 20), 2)
    kind = r.choice(["tuple", "set", "interval", "relation"])
    if kind == "tuple":
        return f"({a}, {b})", [f"\\left( {a},{b} \\right)", f"(x, y) = ({a}, {b})"], [f"({b}, {a})", f"({a}, {b}, 0)", f"{a}"]
    if kind == "set":
        return f"\\{{{a}, {b}\\}}", [f"\\{{{b}, {a}\\}}", f"{b}, {a}", f"x = {a} \\text{{ or }} x = {b}"], [f"\\{{{a}\\}}", f"\\{{{a}, {b + 1}\\}}"]
    lo, hi = min(a, b), max(a, b)
    if kind == "interval":
        return f"[{lo}, {hi})", [f"\\left[{lo},{hi}\\right)", f"x \\in [{lo}, {hi})"], [f"({lo}, {hi})", f"[{lo}, {hi}]", f"[{hi}, {lo})"]
    return f"x \\le {a}", [f"{a} \\ge x", f"x \\leq {a}", f"-x \\ge {-a}"], [f"x < {a}", f"x \\ge {a}", f"x \\le {a + 1}"]


def _percent_degree(r: random.Random):
    n = r.randint(1, 99)
    if r.random() < 0.5:
        return f"{n}\\%", [f"{n}", f"{n} \\%", f"{n} percent"], [f"{n + 1}\\%", f"{n}x"]
    return f"{n}^\\circ", [f"{n}", f"{n} degrees", f"{n}^{{\\circ}}"], [f"{n + 10}^\\circ", f"{n}n"]


KINDS = [_integer, _fraction, _radical, _structure, _percent_degree]


def pairs(n: int = 600, seed: int = 0) -> list[tuple[str, str, int]]:
    r = random.Random(seed)
    out: list[tuple[str, str, int]] = []
    while len(out) < n:
        gold, same, other = r.choice(KINDS)(r)
        label = int(r.random() < 0.5)
        form = r.choice(same if label else other)
        out.append((r.choice(WRAP)(form), gold, label))
    return out


def disagreements(cases, ours, theirs) -> list[dict]:
    return [{"completion": c, "answer": g, "label": l, "rlvr": o, "math_verify": t}
            for (c, g, l), o, t in zip(cases, ours, theirs) if o != t]


def triage(d: dict) -> tuple[str, str]:
    """(who is right, why) for the kinds of disagreement seen so far, each checked by reading the cases; a new
    kind comes back "untriaged" and fails the differential test until someone reads it and adds it here."""
    label_right = "rlvr" if (d["rlvr"] == 1) == (d["label"] == 1) else "math_verify"
    c = d["completion"]
    if label_right == "rlvr" and d["math_verify"] == 0 and c.startswith("<answer>"):
        return "rlvr", "math-verify 0.9 does not read <answer> tags (the R1 format); it extracts nothing from this completion"
    if label_right == "rlvr" and d["math_verify"] == 0 and re.search(r"\d \d+/\d+", c):
        return "rlvr", "a mixed number with a space inside LaTeX: math-verify reads `3 5/6` as 5/6 times 3 or drops the 3"
    if label_right == "rlvr" and d["math_verify"] == 1 and "10^{-30}" in c:
        return "rlvr", "k*sqrt(m) + 10^-30 differs from k*sqrt(m); math-verify's 15-digit chop calls them equal"
    return "untriaged", ""


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from math_verifier import math_verify_rewards

    from rlvr.verifiers import MathVerifier

    cases = pairs()
    v = MathVerifier()
    ours = [r.reward for r in v.verify_batch([{"completion": c, "answer": g} for c, g, _ in cases])]
    v.close()
    theirs = math_verify_rewards([{"completion": c, "answer": g} for c, g, _ in cases])
    out = Path(__file__).with_name("math_disagreements.jsonl")
    rows = []
    for d in disagreements(cases, ours, theirs):
        right, why = triage(d)
        rows.append({**d, "right": right, "why": why})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    wrong = sum(1 for (_, _, l), o in zip(cases, ours) if (o == 1) != (l == 1))
    print(f"{len(cases)} pairs, {len(rows)} disagreements -> {out}; rlvr wrong on {wrong}")


if __name__ == "__main__":
    main()

"""Writes math_cases.jsonl: hand-labelled (completion, answer, label, category) cases for the math verifier.

Run `python tests/data/make_math_cases.py` after editing the tables; the JSONL is committed.
label 1: the completion's final answer is right and stated once; 0: wrong, hedged, missing or unverifiable.
"""

import json
from pathlib import Path

B = lambda x: f"Let me work it out step by step.\nSo the result is $\\boxed{{{x}}}$."  # noqa: E731

CASES = [
    # --- extraction formats
    ("extraction", B("42"), "42", 1),
    ("extraction", "<think>6*7</think><answer>42</answer>", "42", 1),
    ("extraction", "Adding up we get 40 + 2.\n#### 42", "42", 1),
    ("extraction", "The answer is 42.", "42", 1),
    ("extraction", "6 times 7 gives 42", "42", 1),
    ("extraction", "First 6, then 7, so 13.", "42", 0),
    ("extraction", "\\fbox{42}", "42", 1),
    ("extraction", "<answer>\\boxed{42}</answer>", "42", 1),
    ("extraction", "I computed \\boxed{41} earlier but the final answer is \\boxed{42}", "42", 0),
    ("extraction", "no numbers here at all", "42", 0),
    ("extraction", "", "42", 0),
    ("extraction", B("\\text{42}"), "42", 1),
    ("extraction", "Answer: 17", "17", 1),
    ("extraction", "<answer> </answer>", "17", 0),
    # --- integers, signs, separators, wrappers
    ("numeric", B("-3"), "-3", 1),
    ("numeric", B("3"), "-3", 0),
    ("numeric", B("1,000"), "1000", 1),
    ("numeric", B("1{,}000"), "1000", 1),
    ("numeric", B("1000"), "1,000", 1),
    ("numeric", B("10000"), "1,000", 0),
    ("numeric", B("\\$12"), "12", 1),
    ("numeric", B("12 \\text{ dollars}"), "12", 1),
    ("numeric", B("12"), "\\$12", 1),
    ("numeric", B("13"), "\\$12", 0),
    ("numeric", B("50\\%"), "50", 1),
    ("numeric", B("50"), "50\\%", 1),
    ("numeric", B("0.5\\%"), "50", 0),
    ("numeric", B("30^\\circ"), "30", 1),
    ("numeric", B("30^{\\circ}"), "30", 1),
    ("numeric", B("60^\\circ"), "30", 0),
    ("numeric", B("7.0"), "7", 1),
    ("numeric", B("7.01"), "7", 0),
    ("numeric", B("007"), "7", 1),
    ("numeric", B("5 \\text{ cm}"), "5", 1),
    ("numeric", B("5\\,\\text{cm}"), "5", 1),
    ("numeric", B("6 \\text{ cm}"), "5", 0),
    ("numeric", B("2.50"), "2.5", 1),
    ("numeric", B("0.25"), ".25", 1),
    ("numeric", B("25"), "0.25", 0),
    ("numeric", B("123456789"), "123456789", 1),
    ("numeric", B("123456788"), "123456789", 0),
    # --- fractions and exact rationals
    ("fraction", B("\\frac{1}{2}"), "0.5", 1),
    ("fraction", B("\\dfrac{3}{4}"), "\\frac{3}{4}", 1),
    ("fraction", B("\\tfrac{3}{4}"), "0.75", 1),
    ("fraction", B("3/4"), "\\frac{3}{4}", 1),
    ("fraction", B("\\frac{6}{8}"), "\\frac{3}{4}", 1),
    ("fraction", B("\\frac{4}{3}"), "\\frac{3}{4}", 0),
    ("fraction", B("-\\frac{1}{3}"), "-1/3", 1),
    ("fraction", B("\\frac{1}{3}"), "-1/3", 0),
    ("fraction", B("0.333"), "\\frac{1}{3}", 0),
    ("fraction", B("\\frac{1}{2004!}"), "\\frac{1}{2006!}", 0),
    ("fraction", B("\\frac{1}{2006!}"), "\\frac{1}{2006!}", 1),
    ("fraction", B("\\frac{10}{4}"), "2.5", 1),
    ("fraction", B("\\frac{10}{4}"), "2.4", 0),
    # A whole number before a proper fraction is a mixed number in answers (MATH, GSM8K): 1 1/2 = 3/2. The
    # label was 0 ("ambiguous"), but the product reading 1*(1/2) is never how an answer is written.
    ("fraction", B("1\\frac{1}{2}"), "\\frac{3}{2}", 1),
    # --- symbolic
    ("symbolic", B("\\sqrt{2}/2"), "\\frac{\\sqrt{2}}{2}", 1),
    ("symbolic", B("\\frac{1}{\\sqrt{2}}"), "\\frac{\\sqrt{2}}{2}", 1),
    ("symbolic", B("\\sqrt{3}/2"), "\\frac{\\sqrt{2}}{2}", 0),
    ("symbolic", B("2\\sqrt{2}"), "\\sqrt{8}", 1),
    ("symbolic", B("3\\sqrt{2}"), "\\sqrt{8}", 0),
    ("symbolic", B("2x+2"), "2(x+1)", 1),
    ("symbolic", B("2x+1"), "2(x+1)", 0),
    ("symbolic", B("x^2-1"), "(x-1)(x+1)", 1),
    ("symbolic", B("x^2+1"), "(x-1)(x+1)", 0),
    ("symbolic", B("\\pi"), "\\pi", 1),
    ("symbolic", B("2\\pi"), "\\pi", 0),
    ("symbolic", B("\\frac{\\pi}{2}"), "\\pi/2", 1),
    ("symbolic", B("3.14159265"), "\\pi", 1),
    ("symbolic", B("3.14"), "\\pi", 0),
    ("symbolic", B("1.41421356"), "\\sqrt{2}", 1),
    ("symbolic", B("1.4"), "\\sqrt{2}", 0),
    ("symbolic", B("e^{2}"), "e^2", 1),
    ("symbolic", B("\\log_2 8"), "3", 1),
    ("symbolic", B("2^{10}"), "1024", 1),
    ("symbolic", B("2^{10}"), "1000", 0),
    ("symbolic", B("\\binom{5}{2}"), "10", 1),
    ("symbolic", B("5!"), "120", 1),
    ("symbolic", B("4!"), "120", 0),
    ("symbolic", B("\\sqrt{16}"), "4", 1),
    ("symbolic", B("\\sqrt{15}"), "4", 0),
    ("symbolic", B("\\frac{a+b}{2}"), "\\frac{b+a}{2}", 1),
    ("symbolic", B("a+b"), "\\frac{a+b}{2}", 0),
    ("symbolic", B("\\sin^2 x + \\cos^2 x"), "1", 1),
    # --- equations
    ("equation", B("x = 5"), "5", 1),
    ("equation", B("x=5"), "x = 5", 1),
    ("equation", B("x = 6"), "5", 0),
    ("equation", B("y = 2x + 1"), "2x+1", 1),
    ("equation", B("n = 12"), "12", 1),
    ("equation", B("5 = x"), "5", 0),  # the value is not isolated on the right
    # --- sets (order-free)
    ("set", B("\\{1, 2, 3\\}"), "\\{3, 2, 1\\}", 1),
    ("set", B("\\{1, 2\\}"), "\\{1, 2, 3\\}", 0),
    ("set", B("\\{1, 2, 4\\}"), "\\{1, 2, 3\\}", 0),
    ("set", B("\\{\\frac{1}{2}, 2\\}"), "\\{2, 0.5\\}", 1),
    ("set", B("\\{-1, 1\\}"), "\\{1, -1\\}", 1),
    ("set", B("\\{-1\\}"), "\\{1, -1\\}", 0),
    # --- tuples and intervals (ordered; brackets matter)
    ("tuple", B("(1, 2)"), "(1, 2)", 1),
    ("tuple", B("(2, 1)"), "(1, 2)", 0),
    ("tuple", B("(1, -2, 3)"), "(1,-2,3)", 1),
    ("tuple", B("(1, 2, 3)"), "(1,-2,3)", 0),
    ("tuple", B("(\\frac{1}{2}, 3)"), "(0.5, 3)", 1),
    ("interval", B("[1, 2)"), "[1, 2)", 1),
    ("interval", B("[1, 2]"), "[1, 2)", 0),
    ("interval", B("(1, 2]"), "(1, 2)", 0),
    ("interval", B("(0, 5)"), "(0, 5)", 1),
    ("interval", B("[0, 5]"), "[0,5]", 1),
    ("interval", B("[0, 6]"), "[0,5]", 0),
    # --- matrices
    ("matrix", B("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"), "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 1),
    ("matrix", B("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}"), "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 1),
    ("matrix", B("\\begin{pmatrix}1&2\\\\4&3\\end{pmatrix}"), "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 0),
    ("matrix", B("\\begin{pmatrix}\\frac{1}{2}&0\\\\0&1\\end{pmatrix}"), "\\begin{pmatrix}0.5&0\\\\0&1\\end{pmatrix}", 1),
    ("matrix", B("\\begin{pmatrix}1&2\\end{pmatrix}"), "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 0),
    # --- multiple choice
    ("choice", B("B"), "B", 1),
    ("choice", B("(B)"), "B", 1),
    ("choice", B("\\text{(B)}"), "B", 1),
    ("choice", B("b"), "B", 1),
    ("choice", B("C"), "B", 0),
    ("choice", "The correct option is (D).\nThe answer is D", "D", 1),
    ("choice", B("A"), "D", 0),
    # --- hedging and degenerate answers
    ("hedging", "It could be \\boxed{3} or \\boxed{4}.", "3", 0),
    ("hedging", B("3 \\text{ or } 4"), "3", 0),
    ("hedging", B("3 or 4"), "4", 0),
    ("hedging", "The answer is 3 or 4.", "3", 0),
    ("hedging", B("3, 4"), "3", 0),
    ("hedging", B("1, 2, 3, 4, 5, 6, 7, 8, 9, 10"), "7", 0),
    ("hedging", B("\\{3, 4\\}"), "3", 0),
    ("hedging", B("(3, 4)"), "3", 0),
    ("hedging", B(""), "3", 0),
    ("hedging", B("x"), "5", 0),
    ("hedging", B("n"), "12", 0),
    ("hedging", B("\\pm 3"), "3", 0),
    ("hedging", "\\boxed{3}\\boxed{3}", "3", 1),  # the same answer twice is not a hedge
    ("hedging", "\\boxed{5} Wait, let me verify. Yes: \\boxed{5}", "5", 1),
    ("hedging", "\\boxed{5} Wait, let me verify. No: \\boxed{6}", "6", 0),
    # --- huge or hostile expressions
    ("huge", B("9^{9^{9^{9}}}"), "1", 0),
    ("huge", B("10^{10^{10}}"), "1", 0),
    ("huge", B("2^{2^{2^{2^{2}}}}"), "5", 0),
    ("huge", B("(10^{100})!"), "1", 0),
    # --- GSM8K-style word answers
    ("gsm8k", "Janet has 16 eggs, eats 3 and bakes with 4, so sells 9 at $2: 9*2 = 18\n#### 18", "18", 1),
    ("gsm8k", "She sells 16 - 3 - 4 = 9 eggs for 9 * 2 = $18.", "18", 1),
    ("gsm8k", "She sells 16 - 3 - 4 = 9 eggs for 9 * 2 = $18. So she makes 18 dollars a day, after 2 days.", "18", 0),
    ("gsm8k", "So the total is $1,250.", "1250", 1),
    ("gsm8k", "So the total is $1,250.50", "1250.5", 1),
    ("gsm8k", "So the total is 1250 dollars.\n#### 1,250", "1250", 1),
    ("gsm8k", "The total comes to 1200.", "1250", 0),
    ("gsm8k", "It takes 3 hours and 20 minutes, i.e. 200 minutes.", "200", 1),
    ("gsm8k", "Half of 10 is 5", "5", 1),
    ("gsm8k", "So he is 5 years old, and his sister is 8.", "5", 0),
    ("gsm8k", "Each box holds 12, so 3 boxes hold 36 pencils.\n#### 36", "36", 1),
    ("gsm8k", "Each box holds 12, so 3 boxes hold 36 pencils.\n#### 38", "36", 0),
    ("gsm8k", "The discount is 20%, so the price is $80.", "80", 1),
    ("gsm8k", "The discount is 20%, so the price is $80.\nThe answer is 20", "80", 0),
]


def main() -> None:
    out = Path(__file__).with_name("math_cases.jsonl")
    with out.open("w") as f:
        for category, completion, answer, label in CASES:
            f.write(json.dumps({"category": category, "completion": completion, "answer": answer, "label": label}) + "\n")
    print(f"{len(CASES)} cases -> {out}")


if __name__ == "__main__":
    main()

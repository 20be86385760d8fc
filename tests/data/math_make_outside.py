"""Writes math_outside_cases.jsonl: labelled (gold, prediction) equivalence pairs from another project's tests.

Facts re-used as test data with attribution: each pair and its expected verdict is as published in the
source named on the row (repository, file and test function); no code is taken. Skipped from those files:
pairs whose prediction is a multi-paragraph model transcript (not retyped here), pairs that only hold with
a non-default option of that library (allow_set_relation_comp=True, precision=2 or 3), and the `$\\text{13}$`
pair whose gold is a tab character by a Python escape. Run `python tests/data/math_make_outside.py`.
"""

import json
from pathlib import Path

MV = "huggingface/Math-Verify tests/test_all.py"
MIX = "huggingface/Math-Verify tests/test_mixed_number_extraction.py"
AREAL = "leandermaben/AReaL areal/tests/test_math_verify_reward.py"
THINK = "thekasyap/thinkbot test_math_equivalence.py"
YUJ = "huggingface/Math-Verify tests/test_yujianll.py"
SLIME = "cklxx/slime tests/test_math_reward_utils.py"
EASY = "CyrilSterling/EasyR1 test_math_verify.py"

# (gold, prediction, label) per test function
GROUPS = {
    f"{MV}::test_number_extraction": [
        ("-5", "-5", 1), ("7425000", "7,425,000", 1), ("1000", "1000.0", 1), ("1000.0", "1,000.0", 1),
        ("0.4", ".4", 1), ("1000.99", "1,000.99", 1), ("1000.99", "$1,000.99", 1), ("2", "AZYUK2A", 0),
    ],
    f"{MV}::test_simple_fraction_notation": [("10/9", r"\frac{10}{9}", 1), ("-10/9", r"-\frac{10}{9}", 1)],
    f"{MV}::test_sets_handling": [
        ("$[0,1)$", "$[0,1)$", 1), ("$[0,9)$", "$[0,1)$", 0), ("$(0,9)$", "$[0,9)$", 0), ("$1$", "$-[0,1)$", 0),
    ],
    f"{MV}::test_latex_notation": [
        ("$9$", r"Answer \[ 9 \]", 1), ("$9$", "Answer $ 9 $", 1), ("$9$", "Answer $$ 9 $$", 1),
        ("$9$", r"Answer \( 9 \)", 1), ("$10$", r"Answer \( (9+1) \)", 1), ("$9$", "Answer \\[ \n 9 \n \\]", 1),
        ("$9$", "Answer $$ \n 9 \n $$", 1), ("$1/3$", r"$\frac13 $", 1), ("$1$", r"$\frac3{3} $", 1),
        (r"$\sqrt{3}$", r"$\sqrt3 $", 1), ("$1/3$", r"$\cfrac{1}{3} $", 1), ("$1/3$", r"$\dfrac{1}{3} $", 1),
        ("$1/3$", r"$\tfrac{1}{3} $", 1), ("$1/3$", "$ 1/3 $", 1), ("$1/3$", r"$\left( \frac{1}{3} \right)$", 1),
        ("$1/3$", r"$\boxed{\frac{1}{3}}$", 1), ("$1/3$", r"$\frac{1}{3} \text{meters}$", 1),
        ("$1/3$", r"$\frac{1}{3} \textbf{meters}$", 1), ("$1/3$", r"$k = \frac{1}{3}$", 1),
    ],
    f"{MV}::test_percent_notation": [
        (r"$28\%$", "28 percent", 1), (r"$28\%$", "28 %", 1), (r"$28\%$", "$28$ %", 1), (r"$28\%$", "28", 1),
        ("$0.28$", "28", 0), ("$28/100$", "28", 0), ("$28$", "28/100", 0), (r"$\frac{28}{100}$", "28", 0),
        (r"$28*\frac{1}{100}$", "28", 0),
    ],
    f"{MV}::test_latex_notation_math": [
        ("$2-2p$", r"Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. Thus $x-p=\boxed{2-2p}$.", 1),
        (r"$(3, \frac{\pi}{2})$", r"Therefore, the polar coordinates are $\boxed{\left( 3, \frac{\pi}{2} \right)}.$", 1),
        (r"$\text{Evelyn}$", r"Therefore, $\boxed{\text{Evelyn}}$ is our answer.", 1),
        (r"$3\sqrt{13}$", r"\sqrt{117} = \boxed{3\sqrt{13}}. \end{align*}", 1),
        ("$2$", r"Thus, there are $\boxed{2}$ distinct possible values for $B$.", 1),
        (r"$15\mbox{ cm}^2$", r"$$\frac{1}{2}\times 3 \times 10 = \boxed{15\mbox{ cm}^2}.$$", 1),
        ("$-2,1$", r"Checking, we find that the only integer roots are $\boxed{-2,1}.$", 1),
        ("$9$", r"Then, $129^{34}+96^{38} \equiv \boxed{9} \pmod{11}.$", 1),
        (r"$90^\circ$", r"&= 50^\circ+40^\circ \\ &= \boxed{90^\circ}. \end{align*}", 1),
        ("$0$", r"Hence, the degree of $p(x)$ (which is the constant polynomial 1) is $\boxed{0}.$", 1),
        ("$204_5$", r"for a quotient of $\boxed{204_5}$.", 1),
        ("$(6,31,-1)$", r"Then solving the system of equations, we find $(p,q,r) = \boxed{(6,31,-1)}.$", 1),
        (r"$1 \pm \sqrt{19}$", r"By the quadratic formula, $x = \boxed{1 \pm \sqrt{19}}.$", 1),
        (r"$3 \pm 2 \sqrt{2}$", r"By the quadratic formula, the roots are $x = \boxed{3 \pm 2 \sqrt{2}}.$", 1),
        (r"$\{1\pm\sqrt{5},-2\}$", r"so the answer is $\boxed{\{1\pm\sqrt{5},-2\}}.$", 1),
        ("$f(2) < f(1) < f(4)$", r"Hence, $\boxed{f(2) < f(1) < f(4)}.$", 1),
        (r"$2 \sin b \cos a$", "By sum-to-product,\n\\[\\sin (a + b) - \\sin (a - b) = \\boxed{2 \\sin b \\cos a}.\\]", 1),
        (r"$\frac{\pi r}{h+r}$", r"The answer is $\boxed{\frac{\pi r}{h+r}}$.", 1),
        ("$125$ miles", r"The distance is $\boxed{125\textnormal{ miles}}.$", 1),
        (r"$[-1, -\frac{1}{2}) \cup (-\frac{1}{2}, 0) \cup (0, 1) \cup (1, \infty)$",
         r"The solution set is $\boxed{[-1, -\tfrac12) \cup (-\tfrac12, 0) \cup (0, 1) \cup (1, \infty)}.$", 1),
        (r"$\sqrt{2}+\sqrt{5}$", r"The answer is $\boxed{\sqrt 2+\sqrt 5}$", 1),
        (r"$\frac{9}{4}\pi$", r"Therefore $\boxed{\frac94\pi}$.", 1),
        (r"x \in \boxed{\{-1\} \cup [0,7)}.$", r"x \in \boxed{\{-1\} \cup [0,7)}.$", 1),
    ],
    f"{MV}::test_relations_math": [
        ("$x >= 5$", r"Therefore $x \geq 5$ is the solution.", 1), ("$x < 3$", r"We find that $x \lt 3$.", 1),
        (r"$x \leq 2$", "Thus $x <= 2$ is our answer.", 1), ("$x > 5$", r"Therefore $x \gt 5$ is the solution.", 1),
        ("$x != 3$", r"We find that $x \neq 3$.", 1), ("$x > 5$", "Therefore $x < 5$ is the solution.", 0),
        (r"$x \geq 5$", r"The solution is $x \leq 5$", 0), (r"$x \neq 5$", "The solution is $x != 5$", 1),
        (r"$x \leq 5$", r"$5 \geq x$", 1), (r"$x \geq 5$", r"$5 \leq x$", 1), ("$x = 11$", "$x = 5+5+1 = 7 =11$", 1),
        ("$7 = 11a+c$", "$11a+c$", 0), ("$x = 1/3$", r"$x = 5+5+1 = 1/3 \approx 11$", 1), ("$11$", "$x=11$", 1),
        ("$11$", r"$x\approx11$", 1), ("$1/3$", r"$x=1/3\approx1.3$", 1), ("$x < 1$", "$-x > -1$", 1),
        ("$x < 1$", "$x > -1$", 0), ("$x <= 1$", "$-x >= -1$", 1), ("$a +3z = 0$", "$0$", 0),
        (r"$1 = \zzz = x = 0$", "$0$", 1), ("$2x + z = 1$", "$1$", 0), ("$a^2 + b = 0$", "$0$", 0), ("$k=1$", "$1$", 1),
        ("$1$", "$k=1$", 1), ("$z = 1 + 1 = 2$", "$z = 3+3 = 2$", 1), ("$2x+4y-3=0$", r"$y=-\frac{1}{2}x+\frac{3}{4}$", 1),
        ("$x^2/4 + y^2/3 = 1$", "$x^2/16 + y^2/12 = 1/4$", 1),
    ],
    f"{MV}::test_matrix_extraction": [
        (r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$", r"The identity matrix is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.", 1),
        (r"$\begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix}$", r"Here is a zero matrix: $ \begin{pmatrix}0 & 0 \\0 & 0\end{pmatrix} $", 1),
        (r"$\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}$", r"Special matrix: $ \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] $", 1),
        (r"$\begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix}$",
         r"Matrix with fractions: $ \begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix} $", 1),
        (r"$\begin{pmatrix}6 & 8 \\ 10 & 12\end{pmatrix}$",
         r"The sum is $\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix} + \begin{pmatrix}5 & 6 \\ 7 & 8\end{pmatrix}$", 1),
        (r"$\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}$", r"The matrix is $\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}$", 0),
    ],
    f"{MV}::test_complex_math_expressions": [
        (r"$\frac{1}{12}$", "$0.0833333333333333$", 1), (r"$(1,\frac{9}{2})$", "$(1,4.5)$", 1),
        (r"$\frac{x+2}{7}$", r"$\frac{x}{7}+\frac{2}{7}$", 1), (r"$\tan^2(y)+1$", r"$\sec^2(y)$", 1),
        ("$34x+45y-20z+100=0$", "$-34x-45y+20z-100=0$", 1),
        (r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}$", r"$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}$", 1),
        ("$(a+5)(b+2)$", "$(+5)(b+2)$", 0), ("$2$", r"$\frac{1+\sqrt{5}}{2}$", 0),
        ("$4$", r"$\frac{34}{16}+\frac{\sqrt{1358}}{16}$", 0), (r"$1\sqrt{19}$", "$1$", 0), ("$x+2n+1$", "$x+1$", 0),
    ],
    f"{MV}::test_math_extraction_edge_cases": [
        ("12000023", "Final Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user", 1),
        (r"$\left(\frac{4}{5},\frac{1}{5}\right)$", r"Thus, $(t,u) = \boxed{\left( \frac{4}{5}, \frac{1}{5} \right)}.$ Final Answer: The final answer is $\left( \frac{4}{5}, \frac{1}{5} \right)$. I hope it is correct. <|im_start|>user", 1),
        ("$16386.17$", r"Rounded to the nearest cent, Paula's investment is worth $\boxed{\$16386.17}$ after 5 years. I hope it is correct. <|im_start|>user", 1),
    ],
    f"{MV}::test_math_extraction_additional_cases": [
        ("$34$", "Final Answer: The largest $n$ is 34.", 1),
        (r"$\left( \frac{4}{3}, -\frac{1}{3} \right)$", r"Thus, $(t,u) = \boxed{\left( \frac{4}{3}, -\frac{1}{3} \right)}.$", 1),
        ("$(3,1)$", "${1,3}$", 0), ("$(1,3)$", "${1,3}$", 1),
        ("$[-4,0]$", r"Thus, the values of \( k \) for which the quadratic has real roots are: \[ \boxed{[-4, 0]} \]", 1),
        (r"\(\boxed{\text{C}}\).", r"$\boxed{\text{(C)}}.$", 1),
        (r" So the answer is: \[ \boxed{11111111100} \]", r"is $\boxed{11,\! 111,\! 111,\! 100}$", 1),
        (r" So the answer is: \[ \boxed{32349} \]", r"is $\boxed{32,\! 349}$", 1),
        (r" So the answer is: \[ \boxed{32349} \]", r"is $\boxed{32, 349}$", 0),
        (r"Thus, the domain of the function \( f(x) \) is: \[ \boxed{(2, 12) \cup (12, 102)} \]",
         r"Thus, the answer is $x \in \boxed{(2,12) \cup (12,102)}$", 1),
        (r"$\text{E}$", "$E$", 1),
        (r"$\boxed{1}\boxed{2}$", r"$\boxed{1,2}$", 1),
    ],
    f"{MV}::test_set_rel_assymetry": [(r"$-2 \le x \le 7$", r"$x \in [-2,7]$", 1)],
    f"{MV}::test_float_precision": [("4.123105625617661", r"$\sqrt{17}$", 1)],
    f"{MV}::test_sqrt_precision": [("$4$", r"$4\sqrt{2}$", 0)],
    f"{MV}::test_trailing_punctuation": [
        (r"$\frac{1}{3}$", r"$\frac{1}{3}.$", 1), (r"$\frac{1}{3}$", r"The answer is $\frac{1}{3}.$", 1),
        (r"$\frac{1}{3}$", r"$$\frac{1}{3}.$$", 1), (r"$\frac{1}{3}$", r"\[\frac{1}{3}.\]", 1),
        (r"$\frac{1}{3}$", r"$\frac{1}{3},$", 1), (r"$\frac{1}{3}$", r"$\frac{1}{3} .$", 1),
        (r"$\sqrt{2}$", r"$\sqrt{2}.$", 1), ("$(1,2)$", "$(1,2).$", 1), ("$5$", r"$5 \text{ cm}.$", 1),
        ("$42$", "$42.$", 1), ("$2$", "$2^{10}.$", 0), ("$1$", "The answer is $1/3.$", 0),
        ("$1, 2, 3$", "$1, 2, 3, ...$", 0),
    ],
    f"{MIX}": [
        ("40/9", "The answer is 4 4/9.", 1), ("4", "The answer is 4 4/9.", 0), ("40/9", "4 4/9", 1),
        ("-40/9", "-4 4/9", 1), ("71/6", "11 5/6", 1), ("4/9", "0 4/9", 1), ("4", "4 4/0", 0), ("0", "4 4/0", 0),
        ("11", "11 7/6", 0), ("73/6", "11 7/6", 0), ("59/6", "11 7/6", 0), ("7/6", "11 7/6", 0),
        ("139/90", "11/10 4/9", 0), ("103/9", "11.0 4/9", 0), ("103/9", "(11) 4/9", 0),
        ("71/6", "11\n5/6", 0), ("103/9", "11 + 4/9", 1), ("95/9", "11 + 4/9", 0),
        ("40/9", "4 + 4/9", 1), ("5", "10/2", 1), ("1000", "1 000", 1), ("5", "$5.00", 1),
    ],
    # pairs whose test asserts a definite reward (those that accept either verdict are left out)
    f"{AREAL}::gsm8k": [
        ("4", "The answer is 4", 1), ("1/2", "The answer is 0.5", 1), ("4", "Step 1: 2+2=4. \\boxed{4}", 1),
        ("4", "The answer is 5", 0), ("4", "", 0), ("2", "$\\sqrt{4} = 2$", 1), ("4", "The answer is !!!invalid!!!", 0),
        ("2^3", "The answer is 8", 1), ("4", r"The answer is $\sqrt{16}$", 1), ("5/6", r"The answer is $\frac{5}{6}$", 1),
        ("-15", "-15", 1), ("3", "x = 3", 1), ("42", "Step 1: Calculate\nStep 2: Simplify\nFinal answer: 42", 1),
        ("1000", r"$10^3$", 1), ("42", "42", 1), ("999999999999999", "999999999999999", 1), ("0.0000001", "0.0000001", 1),
    ],
    f"{AREAL}::geometry3k": [
        ("90", "The angle is [90].", 1), ("5", "The length is [5.0].", 1), ("90", "The angle is [60].", 0),
        ("90", "The answer is 90 degrees.", 1), ("0.5", "The ratio is [1/2].", 1), ("90", "", 0),
        ("90", "The angle is [ 90 ].", 1), ("45", "[45 degrees]", 1), ("45", "[45]", 1), ("-3", "[-3]", 1),
        ("2", r"[$\sqrt{4}$]", 1), ("45", "First try [30], second try [45].", 1), ("10000", r"[$10^4$]", 1),
        ("2", r"[$\sqrt{\sqrt{16}}$]", 1),
    ],
    # (student, correct, expected) as listed there; note its 0.333 ~ 1/3 convention, which rlvr does not share
    THINK: [(c, s, int(e)) for s, c, e in [
        ("0.5", "1/2", True), ("1/2", "0.5", True), ("0.5", "0.5", True), ("1/2", "1/2", True), ("0.333", "1/3", True),
        ("1/3", "0.333", True), ("2", "2", True), ("2.0", "2", True), ("4/2", "2", True), ("2", "4/2", True),
        ("0.25", "1/4", True), ("1/4", "0.25", True), ("0.75", "3/4", True), ("3/4", "0.75", True), ("1", "1.0", True),
        ("1.0", "1", True), ("0", "0.0", True), ("0.0", "0", True), ("0.5", "1/3", False), ("1/2", "1/3", False),
        ("2", "3", False), ("0.5", "0.6", False)]],
    f"{YUJ}::test_string_extraction": [
        ("$n=1, 2, 3$", "$n=1, 2, 3$", 1), ("$n=2, 3, 4$", "$n=1, 2, 3$", 0), ("$D = (0, 1)$", "$D = (0, 1)$", 1),
        ("$D = (0, 1)$", "$D = (0, 1.5)$", 0),
        (r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$", r"$F_n = \sum_{k=0}^{n-2} F_k F_{n-k-2}$", 0),
        (r"$F_n = \sum_{k=0}^{n-1} F_k F_{n-k-1}$", r"$F_n = \sum_{k=0}^{n-1} F_{n-k-1} F_k$", 1),
        ("$19, 46, and 82$", r"$19, 46, \text{ and } 82$", 1), ("$19, 46, and 82$", "$21, 36, and 82$", 0),
        (r"$1 - \frac{1}{\mathrm{e}}$", r"$1 - \frac{1}{\mathrm{e}}$", 1),
        (r"$1 - \frac{1}{\mathrm{e}}$", r"$1 + \frac{1}{\mathrm{e}}$", 0), (r"$\pm 2021$", "$2021$", 0),
        (r"$\pm 2021$", "${-2021, 2021}$", 1), ("$12:00$", "$1:00$", 0), ("$12:00$", "$12:00$", 1),
    ],
    SLIME: [("25", "Reasoning steps...\nAnswer: \\boxed{25}", 1), ("25", "Here is the result.\nAnswer: 25", 1),
            ("25", "25", 1), ("0", "Answer: \\boxed{0}", 1)],
    # printed comparisons there, each stating an identity; the label is that identity's truth
    EASY: [("x^2 + 2x + 1", "(x+1)^2", 1), ("$x^2 + 2x + 1$", "$(x+1)^2$", 1), ("2+2", "4", 1),
           ("${1,3} \\cup {2,4}$", "${1,2,3,4}$", 1)],
}


def main() -> None:
    out = Path(__file__).with_name("math_outside_cases.jsonl")
    rows = [{"source": src, "answer": g, "completion": p, "label": lab} for src, cases in GROUPS.items() for g, p, lab in cases]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} cases -> {out}")


if __name__ == "__main__":
    main()

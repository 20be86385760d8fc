"""General chat prompts: questions with no verifiable answer, for preference rewards (R1's stage 4).

The questions: capitals, opposites, colours, plurals and animal sounds, each with one concise, on-topic
answer (the `answer` column, so reference-based rewards can use it) and four worse ones (rambling,
repetitive, off-topic, wrong; the `rejected` column, from which `rlvr.synthetic` builds preference pairs).
The task's checker has nothing to verify and returns `correct=None`, which leaves these prompts out of
accuracy.
"""

from __future__ import annotations

import random

from rlvr.tasks import Check, Example, in_held_out

_CAPITALS = [("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"),
             ("Canada", "Ottawa"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago"),
             ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Greece", "Athens"), ("Portugal", "Lisbon"),
             ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Ireland", "Dublin"), ("Cuba", "Havana"),
             ("Thailand", "Bangkok"), ("Russia", "Moscow"), ("China", "Beijing"), ("India", "New Delhi"),
             ("Mexico", "Mexico City"), ("Argentina", "Buenos Aires"), ("Finland", "Helsinki")]
_OPPOSITES = [("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"),
              ("up", "down"), ("early", "late"), ("open", "closed"), ("full", "empty"), ("hard", "soft"),
              ("old", "young"), ("rich", "poor"), ("strong", "weak"), ("wet", "dry"), ("loud", "quiet"),
              ("tall", "short"), ("thick", "thin"), ("clean", "dirty"), ("true", "false"), ("win", "lose")]
_COLOURS = [("grass", "green"), ("snow", "white"), ("a ripe banana", "yellow"), ("the sky on a clear day", "blue"),
            ("coal", "black"), ("a ripe tomato", "red"), ("an orange", "orange"), ("milk", "white"),
            ("a lemon", "yellow"), ("a strawberry", "red")]
_PLURALS = [("mouse", "mice"), ("child", "children"), ("goose", "geese"), ("man", "men"), ("tooth", "teeth"),
            ("foot", "feet"), ("woman", "women"), ("person", "people"), ("leaf", "leaves"), ("knife", "knives"),
            ("box", "boxes"), ("city", "cities"), ("wolf", "wolves"), ("cactus", "cacti")]
_SOUNDS = [("a dog", "barks"), ("a cat", "meows"), ("a cow", "moos"), ("a duck", "quacks"), ("a lion", "roars"),
           ("a sheep", "bleats"), ("a horse", "neighs"), ("an owl", "hoots"), ("a pig", "oinks"), ("a snake", "hisses")]

# (table, question templates, answer sentence); {x} is the key, {y} the value
_KINDS = [
    (_CAPITALS, ["What is the capital of {x}?", "Which city is the capital of {x}?"], "The capital of {x} is {y}."),
    (_OPPOSITES, ["What is the opposite of '{x}'?", "Give the opposite of the word '{x}'."], "The opposite of '{x}' is '{y}'."),
    (_COLOURS, ["What colour is {x}?", "Name the colour of {x}."], "{X} is {y}."),
    (_PLURALS, ["What is the plural of '{x}'?", "How do you write more than one '{x}'?"], "The plural of '{x}' is '{y}'."),
    (_SOUNDS, ["What sound does {x} make?", "How does {x} sound?"], "{X} {y}."),
]
_ALL = [(k, t, q) for k, (table, templates, _) in enumerate(_KINDS) for t in range(len(table)) for q in range(len(templates))]
GENERAL_HELD_OUT_PERCENT = 20


def _general(kind: int, item: int, template: int) -> tuple[str, str, str, str]:
    table, templates, sentence = _KINDS[kind]
    x, y = table[item]
    fill = dict(x=x, y=y, X=x[0].upper() + x[1:])
    return templates[template].format(**fill), sentence.format(**fill), x, y


def general_prompt(rng: random.Random, *, held_out: bool = False) -> Example:
    """A general question from the train (or held-out) split, its good answer and four worse ones."""
    pool = [t for t in _ALL if in_held_out(_general(*t)[0], GENERAL_HELD_OUT_PERCENT) == held_out]
    kind, item, template = rng.choice(pool)
    question, good, x, y = _general(kind, item, template)
    table = _KINDS[kind][0]
    wrong_y = rng.choice([v for _, v in table if v != y])
    other = rng.choice([t for t in _ALL if t[0] != kind])
    bad = {
        "rambling": (f"That is a really interesting question, and many people have wondered about {x} for a long time. "
                     f"There are a lot of different things to consider here, and honestly it depends on many factors. "
                     f"I am not completely sure, but I think the answer might be {y}, or possibly something else."),
        "repetitive": " ".join([y] * 12),
        "off_topic": _general(*other)[1],
        "wrong": _KINDS[kind][2].format(x=x, y=wrong_y, X=x[0].upper() + x[1:]),
    }
    return Example(question=question, answer=good, columns={"rejected": bad, "expected": y})


def general_examples(n: int, *, seed: int, held_out: bool = False) -> list[Example]:
    return [general_prompt(random.Random(f"general-{seed}-{held_out}-{i}"), held_out=held_out) for i in range(n)]


class General:
    reward = "preference"

    def __init__(self, config):
        self.config = config

    def example(self, index: int) -> Example:
        return general_prompt(random.Random(f"general-{self.config.seed}-train-{index}"))

    def held_out(self, n: int) -> list[Example]:
        return general_examples(n, seed=self.config.seed, held_out=True)

    def check(self, completion: str, example: Example) -> Check:
        return Check(correct=None, extracted=None)




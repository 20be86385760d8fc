"""An optional judge model that says which reasoning behaviours a completion shows (`log.behaviour_judge`): the
same four as the pattern proxy of rlvr.emergence (verification, backtracking, subgoal setting, enumeration), read
by a model instead of by patterns. Off by default; nothing else needs it.

- `openai`: any OpenAI-compatible endpoint (vLLM, llama.cpp's server, OpenAI), POST `<base_url>/chat/completions`
  with the standard library's urllib, so there is no new dependency.
- `hf`: a local Hugging Face chat model through a transformers text-generation pipeline.

The judge answers JSON, `{"verification": true, ...}`; a reply that does not parse, or a call that fails, counts
for no completion (`behaviour_judge/judged` says how many were read). It is a metric, never a reward: a completion
that talks the judge into saying "true" changes a plot, not the training.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request

from rlvr.emergence import BEHAVIOURS

MAX_CHARS = 8000  # a completion is cut to this many characters (its start: where the reasoning is) for the judge

PROMPT = """You read a model's answer to a problem and say which reasoning behaviours it shows.
- verification: it checks a result (recomputes it, substitutes it back, confirms it against the question).
- backtracking: it notices an error or a dead end and abandons that line of reasoning for another.
- subgoal_setting: it splits the problem into intermediate goals or steps before or while solving it.
- enumeration: it goes through several cases, options or candidate values one by one.
Reply with one JSON object and nothing else, with a true or false for each key:
{{"verification": ..., "backtracking": ..., "subgoal_setting": ..., "enumeration": ...}}

The answer to classify, between the markers:
<<<ANSWER
{completion}
ANSWER>>>"""


def parse(reply: str) -> dict[str, bool] | None:
    """The verdict in a judge's reply: the last JSON object in it that has a true/false for every behaviour."""
    for m in reversed(list(re.finditer(r"\{[^{}]*\}", reply))):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and all(isinstance(obj.get(b), bool) for b in BEHAVIOURS):
            return {b: obj[b] for b in BEHAVIOURS}
    return None


def openai_chat(base_url: str, model: str, prompt: str, *, api_key: str | None, timeout: float) -> str:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}], "temperature": 0,
                       "max_tokens": 100}).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {api_key}"} if api_key else {})}
    req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


def hf_pipeline(model: str):
    from transformers import pipeline

    return pipeline("text-generation", model=model)


class Judge:
    def __init__(self, cfg, console=None):
        self.cfg, self.console, self.warned = cfg, console, False
        if cfg.kind == "hf":
            self.pipe = hf_pipeline(cfg.model)
        elif cfg.kind != "openai":
            raise ValueError(f"behaviour_judge.kind={cfg.kind!r}: not a judge")

    def ask(self, prompt: str) -> str:
        if self.cfg.kind == "openai":
            key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
            return openai_chat(self.cfg.base_url, self.cfg.model, prompt, api_key=key, timeout=self.cfg.timeout_s)
        out = self.pipe([{"role": "user", "content": prompt}], max_new_tokens=100, do_sample=False)
        return out[0]["generated_text"][-1]["content"]

    def classify(self, completions: list[str]) -> list[dict[str, bool] | None]:
        """One verdict per completion; None where the call failed or the reply did not parse (warned once)."""
        out = []
        for c in completions:
            try:
                out.append(parse(self.ask(PROMPT.format(completion=c[:MAX_CHARS]))))
            except Exception as e:  # an unreachable or failing judge costs its metric, never the run
                out.append(None)
                if not self.warned and self.console is not None:
                    self.console.print(f"behaviour judge failed ({type(e).__name__}: {e}); its metrics are left "
                                       f"out where it fails", style="yellow", markup=False)
                self.warned = True
        return out

    def metrics(self, completions: list[str]) -> dict:
        """`behaviour_judge/<name>`: share of the judged completions showing it (NaN if none was judged);
        `behaviour_judge/judged`: how many of the completions were judged."""
        verdicts = [v for v in self.classify(completions) if v is not None]
        out = {f"behaviour_judge/{b}": (sum(v[b] for v in verdicts) / len(verdicts) if verdicts else float("nan"))
               for b in BEHAVIOURS}
        out["behaviour_judge/judged"] = len(verdicts)
        return out


def build(cfg, console=None) -> Judge | None:
    return None if cfg.kind == "none" else Judge(cfg, console)

"""open-r1's GRPO reward functions, re-written in our own words with the same signatures and behaviour, to check
that rlvr calls reward functions exactly as TRL does (tests/test_trl_conventions.py)."""

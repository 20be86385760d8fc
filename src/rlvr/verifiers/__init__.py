"""Verifiers: deterministic checkers that extract, compare and return a reward with details.

Each verifier is usable as a reward function (TRL's signature) and directly on one (completion, reference)
pair, and states its threat model in its module docstring. Slow or untrusted work runs in worker processes
killed at a hard wall-clock limit (`pool.WorkerPool`).
"""

from rlvr.verifiers.code import CodeResult, CodeVerifier
from rlvr.verifiers.math import MathResult, MathVerifier
from rlvr.verifiers.proof import ProofResult, ProofVerifier

__all__ = ["CodeResult", "CodeVerifier", "MathResult", "MathVerifier", "ProofResult", "ProofVerifier"]

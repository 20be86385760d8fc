"""Verifiers: deterministic checkers that extract, compare and return a reward with details.

Each has the one interface of `verifiers.base.Verifier` (cases as dicts, `verify_batch`, TRL's reward
signature) and states its threat model in its module docstring. Slow or untrusted work runs in worker
processes killed at a hard wall-clock limit (`pool.WorkerPool`) or in the sandbox (`sandbox.Sandbox`).
"""

from rlvr.verifiers.base import Verifier
from rlvr.verifiers.code import CodeResult, CodeVerifier
from rlvr.verifiers.math import MathResult, MathVerifier
from rlvr.verifiers.proof import ProofResult, ProofVerifier

# Every verifier, declared once: `rlvr verify KIND` and the `KIND_verifier` rewards both come from here.
VERIFIERS: dict[str, type[Verifier]] = {"math": MathVerifier, "code": CodeVerifier, "proof": ProofVerifier}

__all__ = ["VERIFIERS", "CodeResult", "CodeVerifier", "MathResult", "MathVerifier", "ProofResult", "ProofVerifier",
           "Verifier"]

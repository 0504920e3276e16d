"""Normal operators ``Aᴴ A``, folded through chains."""

from ..operators.basic import Identity, Scalar
from .compose import compose


def sandwich(B, X):
    """``Bᴴ X B`` using ``B``'s own normal when ``X`` is a scaled identity."""
    if type(X) is Identity:
        return B.N  # Bᴴ I B = Bᴴ B
    if type(X) is Scalar:
        return compose(Scalar(X.weight, B.isize, B.ishape), B.N)  # Bᴴ (c I) B = c Bᴴ B
    return compose(compose(B.H, X), B)


def generic_normal(A):
    """``Aᴴ A`` by composition (the rules still cancel unitary pairs)."""
    return compose(A.H, A)


def chain_normal(C):
    """(A₁ A₂ … Aₙ)ᴴ(A₁ … Aₙ) = Aₙᴴ(… (A₂ᴴ (A₁ᴴA₁) A₂) …)Aₙ, folding from the outside in."""
    # each factor in the chain's dtype first: |w|² of a float32 weight in a float64 chain must be float64
    ops = [op if op.dtype == C.dtype else op._to(dtype=C.dtype) for op in C.ops]
    inner = ops[0].N
    for B in ops[1:]:
        inner = sandwich(B, inner)
    return inner if inner.dtype == C.dtype else inner._to(dtype=C.dtype)

"""The lazy inverse ``Inverse(A)``: applying it solves ``A x = y`` (what ``ll.inv`` returns)."""

from ..core.base import LinearOperator
from ..core.combinators import lazy_tags
from ..errors import ShapeError
from .autograd import run_named
from .engine import inverse_kind, structural_inverse
from .methods import SOLVE, advice, document, inverse_options, make_options
from .status import check_op, finish


def inverse_tags(tags):
    """(A⁻¹)ᴴ = (Aᴴ)⁻¹ keeps hermitian and unitary; A ≻ 0 ⇒ A⁻¹ ≻ 0 (psd alone says nothing: A may be singular)."""
    return tuple(t for t in ("hermitian", "pd", "unitary") if t in tags)


class Inverse(LinearOperator):
    """``A⁻¹`` for a square operator ``A``, applied by ``ll.solve`` with the stored options.

    ``Inverse(A).H`` is ``Inverse(A.H)``, ``Inverse(A).inverse()`` is ``A``, and inverses compose
    in chains (``ll.inv(A) @ B`` is ``A⁻¹B``; ``(A B)⁻¹ = B⁻¹A⁻¹``). The apply costs one
    solve: 0 matvecs for structural inverses (Diagonal, unitary FFT, Dense by LU …), a
    Krylov solve otherwise. Gradients flow to ``A``'s weights by implicit differentiation.

    Parameters
    ----------
    A : LinearOperator
        A square operator.
    **solve_options
        ``ll.solve``'s options, used by every apply (the list is in ``ll.inv``'s docstring); ``callback``, ``show`` and
        ``progress`` watch every solve the inverse runs (``callback`` sees ``x`` named like
        ``A``'s input, with the applied batch in front).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> D = ll.Diagonal(torch.tensor([1.0, 2.0, 4.0]), "N")
    >>> Dinv = ll.Inverse(D)
    >>> (Dinv @ torch.ones(3)).tolist(), Dinv.ishape, Dinv.H.inverse() is D.H
    ([1.0, 0.5, 0.25], ('N',), True)

    Dense equivalent: ``torch.linalg.inv(A.to_dense())``.
    """

    def __init__(self, A, **solve_options):
        if not isinstance(A, LinearOperator):
            raise TypeError(f"Inverse: A must be an operator, got {type(A).__name__}")
        allowed = inverse_options()
        unknown = sorted(set(solve_options) - set(allowed))
        if unknown:
            raise TypeError(f"Inverse: unknown options {unknown}; allowed: {allowed}")
        if A.shape[0] != A.shape[1]:
            raise ShapeError(f"Inverse: A must be square, got {tuple(A.shape)}; for least squares use ll.lstsq")
        make_options("Inverse", **solve_options)  # validate now, not at the first apply
        self._init_like(A, adjoint=True, tags=inverse_tags(A._tags))  # structural only: see _lazy_tags
        M = solve_options.pop("M", None)
        self.op = A
        self.precond = M if isinstance(M, LinearOperator) else None
        self.options = tuple(sorted({**solve_options, **({"M": M} if isinstance(M, str) else {})}.items()))

    def _lazy_tags(self):
        return lazy_tags(self, lambda: inverse_tags(self.op.tags))

    def _opts(self, adjoint=False):
        """The validated solve options (``M → Mᴴ`` for the adjoint), built once per direction."""

        def build():
            kw = dict(self.options)
            M = self.precond
            if M is not None:
                kw["M"] = M.H if adjoint else M
            return make_options("Inverse", **kw)

        return self._memo(("options", adjoint), build)

    def _kw(self, fn):
        kw = dict(self.options)
        if self.precond is not None:
            kw["M"] = fn(self.precond)
        return kw

    def _solve(self, A, y, adjoint):
        opts = self._opts(adjoint)
        x, info = run_named("solve", "Inverse", A, y, opts)
        finish(x, info, opts.on_failure, "Inverse", advice(info.method))
        return x

    def _apply(self, y):
        return self._solve(self.op, y, False)  # A⁻¹ y

    def _apply_adjoint(self, x):
        return self._solve(self.op.H, x, True)  # (A⁻¹)ᴴ x = (Aᴴ)⁻¹ x

    def _adjoint(self):
        return Inverse(self.op.H, **self._kw(lambda M: M.H))

    def _conj(self):
        return Inverse(self.op.conj(), **self._kw(lambda M: M.conj()))  # conj(A⁻¹) = conj(A)⁻¹

    def _inverse(self):
        return self.op  # (A⁻¹)⁻¹ = A

    def _diagonal(self):
        inv = structural_inverse(self.op)
        if inv is None or inverse_kind(inv)[1]:  # a conditional formula (Woodbury) may not hold for this A
            return None
        return inv._diagonal()

    def _renamed(self, ishape, oshape):
        return Inverse(self.op.rename(ishape=oshape, oshape=ishape), **self._kw(lambda M: M))

    def _repr_extra(self):
        opts = dict(self.options)
        return f"solve method={opts.get('method', 'auto')}"


@document(SOLVE)
def inv(A, **options):
    """The lazy inverse ``A⁻¹`` (an ``ll.Inverse``): applying it solves, ``inv(A).H`` inverts ``A.H``.

    Parameters
    ----------
    A : LinearOperator
        A square operator.
    **options
        ``ll.solve``'s options ({options}), stored and used by every apply; ``show=True`` or
        ``progress=True`` log each solve the inverse runs.

    Returns
    -------
    Inverse
        The lazy ``A⁻¹`` (``A`` itself when ``A`` is an ``Inverse`` and no options are given).

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> Ainv = ll.inv(ll.Diagonal(torch.tensor([2.0, 4.0]), "N"))
    >>> Ainv(torch.ones(2)).tolist(), type(Ainv).__name__
    ([0.5, 0.25], 'Inverse')

    Dense equivalent: ``torch.linalg.inv(A.to_dense())`` (never formed here).
    """

    check_op("ll.inv", A)
    if type(A) is Inverse and not options:
        return A.op  # (A⁻¹)⁻¹ = A
    return Inverse(A, **options)

"""Interoperability with scipy: an operator as a ``scipy.sparse.linalg.LinearOperator``.

``scipy.sparse.linalg.aslinearoperator(A)`` itself cannot take an operator: it passes ``A.dtype``
(a ``torch.dtype``, as for every tensor) to ``numpy.dtype``, which refuses it. ``ll.aslinearoperator``
is the adapter: the same matrix, applied through ``A.matvec``/``rmatvec``/``matmat``/``rmatmat``.
"""

import torch

from .core.base import LinearOperator
from .errors import DtypeError


def aslinearoperator(A):
    """``A`` as a ``scipy.sparse.linalg.LinearOperator`` (numpy in and out, never densified).

    scipy's ``cg``, ``gmres``, ``lsqr``, ``eigsh``… then run on it; each matvec is one structured
    apply of ``A`` (on its device; inputs are copied from and results to the host).

    Parameters
    ----------
    A : LinearOperator
        The operator; its dtype must have a numpy equivalent (not bfloat16).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Shape ``A.shape``, dtype the numpy equivalent of ``A.dtype``.

    Raises
    ------
    TypeError
        ``A`` is not an operator.
    DtypeError
        ``A.dtype`` has no numpy equivalent.
    ImportError
        scipy is not installed (it is an optional dependency, in the ``dev`` extra).

    Examples
    --------
    >>> import numpy as np, torch, lazylinops as ll
    >>> from scipy.sparse.linalg import cg
    >>> A = ll.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> x, info = cg(ll.aslinearoperator(A), np.ones(3), rtol=1e-12)
    >>> info, np.round(x, 6).tolist()
    (0, [1.0, 0.5, 0.25])
    """
    if not isinstance(A, LinearOperator):
        raise TypeError(f"ll.aslinearoperator: expected a lazylinops operator, got {type(A).__name__}")
    try:
        from scipy.sparse.linalg import LinearOperator as ScipyOperator  # noqa: PLC0415  optional dependency
    except ImportError as exc:
        raise ImportError("ll.aslinearoperator needs scipy, an optional dependency: pip install scipy") from exc
    try:
        dtype = torch.empty((), dtype=A.dtype).numpy().dtype
    except TypeError as exc:
        raise DtypeError(
            f"ll.aslinearoperator: {A.dtype} has no numpy equivalent; move the operator first, e.g. A.to(torch.float32)"
        ) from exc
    return ScipyOperator(
        tuple(A.shape), matvec=A.matvec, rmatvec=A.rmatvec, matmat=A.matmat, rmatmat=A.rmatmat, dtype=dtype
    )

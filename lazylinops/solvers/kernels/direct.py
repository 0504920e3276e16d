"""Direct solves: ``method="dense"`` (LU / SVD of ``A.to_dense()``) and the record of any factorisation.

A direct answer is judged by its measured true residual (``direct_record``): under the tolerance
it is exact; above it, numerically singular (``SingularError`` carrying ``.x`` and ``.info``) or
merely ill-conditioned (the backward-stable answer stands, said in the message). Errors are
raised ``unnamed``: the engine's boundary puts the user's call in front.
"""

import torch

from ...errors import SingularError
from ..status import SolveInfo, Status, unnamed
from .flat import Flat, norm


def real(dtype):
    return dtype.to_real() if dtype.is_complex else dtype


def singular(A, why):
    """The (``unnamed``) ``SingularError`` of a structurally singular ``A``."""
    return unnamed(
        SingularError(
            f"{type(A).__name__} {tuple(A.shape)} is singular ({why}); the system has no unique solution — "
            "check the operator, or use ll.lstsq for the minimum-norm least-squares solution"
        )
    )


class DenseFlat(Flat):
    """``Flat`` for a matrix ``D`` already formed (the operator ``A`` named in messages)."""

    def __init__(self, D, A):
        super().__init__(A)
        self.D = D

    def mv(self, x):
        self.count += 1
        return x @ self.D.mT


def direct_record(method, what, P, bf, xf, res, tol, batch):
    """The record of a direct (factorisation) solve whose true residual ``res`` was measured.

    Under ``tol = max(rtol·‖b‖, atol)``: exact. Above it, the answer is judged by a lower bound of
    the condition number, ``κ ≥ ‖A b‖·‖x‖ / ‖b‖²`` (one more matvec): when ``κ·eps ≥ 0.1`` or the
    residual is no better than half of ``‖b‖`` (``x = 0`` would do as well), ``A`` is numerically
    singular and ``SingularError`` is raised (with ``.x`` and ``.info``); otherwise ``A`` is merely
    ill-conditioned and the backward-stable answer (what ``torch.linalg.solve`` returns) stands,
    with its residual recorded and said in the message. (A single-precision LU routinely leaves
    ``‖b − A x‖ ≈ 1e-4 ‖b‖`` on a well-posed system, above the default ``rtol`` of 1e-5.)
    """
    met = res <= tol
    if bool(met.all()):
        msg = f"{what} (direct factorisation; true residual measured under the tolerance)"
        return SolveInfo(method, True, 0, res.reshape(batch), P.count, msg, Status.exact)
    bn = norm(bf)
    kappa = norm(P.mv(bf)) * norm(xf) / (bn * bn)  # ‖A‖ ≥ ‖A b‖/‖b‖, ‖A⁻¹‖ ≥ ‖x‖/‖b‖
    eps = torch.finfo(real(bf.dtype)).eps
    is_singular = ~met & ((kappa * eps >= 0.1) | (res > 0.5 * bn))
    worst = res.max().item()
    kmax = kappa.max().item()
    if bool(is_singular.any()):
        msg = (
            f"numerically singular: the {what} leaves a residual of {worst:.3g} (‖b‖ = {bn.max().item():.3g}, "
            f"tolerance {tol.max().item():.3g}; cond ≳ {kmax:.3g})"
        )
        info = SolveInfo(method, False, 0, res.reshape(batch), P.count, msg, Status.singular)
        err = unnamed(
            SingularError(
                f"{type(P.A).__name__} {tuple(P.A.shape)} is {msg}; the answer is not a solution — check the "
                "operator, or use ll.lstsq for the minimum-norm least-squares solution"
            )
        )
        err.x, err.info = xf.reshape(*batch, *P.A.isize), info
        raise err
    msg = (
        f"{what} (direct factorisation; true residual {worst:.3g} measured above the tolerance "
        f"{tol.max().item():.3g}: A is ill-conditioned, cond ≳ {kmax:.3g}; this is the backward-stable answer)"
    )
    return SolveInfo(method, True, 0, res.reshape(batch), P.count, msg, Status.exact)


def dense(p):
    """``A.to_dense()`` solved directly: LU for a solve (residual measured), an SVD-based minimum-norm
    least-squares solution for ``lstsq`` (``damp`` as an extra block ``[damp I]``)."""
    D = p.A.to_dense().to(p.b.dtype)
    bf = p.b
    if p.stop == "residual":
        X, fail = torch.linalg.solve_ex(D, bf.mT)
        if bool((fail != 0).any()) or not bool(torch.isfinite(X).all()):
            raise singular(p.A, "the LU factorisation of A.to_dense() found a zero pivot")
        xf = X.mT
        res = norm(bf - xf @ D.mT)  # measured
        rtol, atol = p.opts.tolerances(bf.dtype)
        tol = torch.clamp(rtol * norm(bf), min=atol)
        what = "dense LU solve of A.to_dense()"
        return xf, direct_record("dense", what, DenseFlat(D, p.A), bf, xf, res, tol, p.batch)
    n = D.shape[1]
    if p.damp:
        D = torch.cat([D, p.damp * torch.eye(n, dtype=D.dtype, device=D.device)])
        bf = torch.cat([bf, bf.new_zeros(bf.shape[0], n)], dim=1)
    if D.device.type == "cpu":  # gelsd: SVD-based, the minimum-norm solution when rank-deficient
        x = torch.linalg.lstsq(D, bf.mT, driver="gelsd").solution.mT
    else:
        x = (torch.linalg.pinv(D) @ bf.mT).mT
    res = norm((bf - x @ D.mT) @ D.conj())  # measured ‖Dᴴ(b − D x)‖
    return x, SolveInfo("dense", True, 0, res.reshape(p.batch), 0, "dense least squares (minimum norm)", Status.exact)

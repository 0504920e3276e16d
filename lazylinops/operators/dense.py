"""Dense operators: ``Dense`` (a matrix, or an einsum over named dims)."""

import string

import opt_einsum
import torch

from ..core.base import LinearOperator
from ..core.tiles import relevant, resized, slice_weight
from ..dims import Dim, check_names
from ..dtypes import check_dtype
from ..errors import ShapeError

_LETTERS = string.ascii_letters


class EinsumPlan:
    """An einsum over one batched input and fixed weights, planned once with opt_einsum.

    ``terms`` are label tuples of the weights; the input has labels ``ilab`` behind one
    flattened batch label; the output ``olab``. The pairwise contraction order comes from
    ``opt_einsum.contract_path`` at construction; calls run the stored steps.
    """

    def __init__(self, terms, ilab, olab, sizes, batch_hint=64):
        labels = {}
        for lab in [*[l for t in terms for l in t], *ilab, *olab]:
            if lab not in labels:
                if len(labels) >= len(_LETTERS) - 1:
                    raise ShapeError(f"einsum over more than {len(_LETTERS) - 1} distinct dims is not supported")
                labels[lab] = _LETTERS[len(labels) + 1]
        b = _LETTERS[0]
        subs = ["".join(labels[l] for l in t) for t in terms] + [b + "".join(labels[l] for l in ilab)]
        out = b + "".join(labels[l] for l in olab)
        self.equation = ",".join(subs) + "->" + out
        self._nin = len(ilab)
        shapes = [tuple(sizes[l] for l in t) for t in terms] + [(batch_hint, *(sizes[l] for l in ilab))]
        if len(subs) <= 2:
            self.steps = None  # a single pairwise contraction: nothing to plan
        else:
            path, _ = opt_einsum.contract_path(self.equation, *shapes, shapes=True, optimize="auto")
            self.steps = path

    def __call__(self, weights, x):
        nb = x.dim() - self._nin
        batch = x.shape[:nb]
        xb = x.reshape(-1, *x.shape[nb:])
        if self.steps is None:
            y = torch.einsum(self.equation, *weights, xb)
        else:
            y = opt_einsum.contract(self.equation, *weights, xb, optimize=self.steps, backend="torch")
        return y.reshape(*batch, *y.shape[1:])


def _fresh(label, taken):
    """A new einsum label derived from ``label``, not in ``taken`` (which it joins)."""
    new = label + "'"
    while new in taken:
        new += "'"
    taken.add(new)
    return new


def _cast(w, dtype):
    return w if w.dtype == dtype else w.to(dtype)


class Dense(LinearOperator):
    """A dense linear map: the plain matrix ``W``, or an einsum over named dims.

    ``Dense(W)`` is the matrix ``W`` (``(M, N)``, or ``(*osize, *isize)`` with names).
    With ``weightshape``, ``y[oshape] = Σ W[weightshape] · x[ishape]`` summing the names
    of ``ishape`` not in ``oshape``; names in both are elementwise (e.g. coil maps).
    Apply is one GEMM/einsum, O(weight.numel() · batch).

    Parameters
    ----------
    weight : torch.Tensor
        The matrix ``W`` (floating or complex; may require grad): ``(M, N)``, or
        ``(*osize, *isize)`` when ``ishape``/``oshape`` name more dims, or any shape named by
        ``weightshape``. Its dtype and device are the operator's.
    weightshape : str or tuple of str, optional
        Names of ``weight``'s dims, which makes the operator an einsum; then ``ishape`` and
        ``oshape`` are required and every one of their names must be in ``weightshape``.
    ishape : str or tuple of str, optional
        Input dim names. Without ``weightshape`` they name ``weight``'s trailing dims (positional
        names when None).
    oshape : str or tuple of str, optional
        Output dim names. Without ``weightshape`` they name ``weight``'s leading dims (positional
        names when None).

    Raises
    ------
    TypeError
        ``weight`` is not a tensor.
    ShapeError
        The names do not fit ``weight``'s dims, or a name of ``ishape``/``oshape`` is missing
        from ``weightshape``.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> W = torch.arange(6.0).reshape(2, 3)
    >>> A = ll.Dense(W)
    >>> (A @ torch.ones(3)).tolist(), A.N.shape
    ([3.0, 12.0], torch.Size([3, 3]))
    >>> S = ll.Dense(torch.ones(4, 8, 8), "CHW", ishape="HW", oshape="CHW")   # coil maps
    >>> S(torch.ones(8, 8)).shape
    torch.Size([4, 8, 8])

    Dense equivalent: ``W`` itself; ``torch.einsum`` for named weights.
    """

    def __init__(self, weight, weightshape=None, ishape=None, oshape=None, *, _labels=None):
        if not isinstance(weight, torch.Tensor):
            raise TypeError(f"Dense: weight must be a torch.Tensor, got {type(weight).__name__}")
        check_dtype(weight.dtype, "Dense weight")
        ishape, oshape, weightshape = Dim(ishape), Dim(oshape), Dim(weightshape)
        if _labels is not None:
            wlab, ilab, olab = _labels
            sizes = dict(zip(wlab, weight.shape))
            isize, osize = [sizes[l] for l in ilab], [sizes[l] for l in olab]
            plain = False
        elif weightshape is None:
            plain = True
            no, ni = (
                (1, 1)
                if oshape is None and ishape is None
                else (
                    len(oshape) if oshape is not None else weight.dim() - len(ishape),
                    len(ishape) if ishape is not None else weight.dim() - len(oshape),
                )
            )
            if weight.dim() != no + ni or no < 0 or ni < 0:
                raise ShapeError(
                    f"Dense: a weight of shape {tuple(weight.shape)} without weightshape is the matrix "
                    f"(*osize, *isize), but oshape {oshape} and ishape {ishape} name {no}+{ni} dims; "
                    "pass a 2-D matrix, matching names, or weightshape= for an einsum"
                )
            osize, isize = weight.shape[:no], weight.shape[no:]
            olab, ilab = tuple(f"o{i}" for i in range(no)), tuple(f"i{i}" for i in range(ni))
            wlab = olab + ilab
        else:
            plain = False
            check_names(weightshape, weight.shape, "weightshape")
            if ishape is None or oshape is None:
                raise ShapeError(
                    "Dense: with weightshape, give both ishape and oshape (the einsum's input and output names)"
                )
            sizes = dict(zip(weightshape, weight.shape))
            missing = [n for n in (*ishape, *oshape) if n not in sizes]
            if missing:
                raise ShapeError(
                    f"Dense: dims {missing} of ishape {ishape} / oshape {oshape} are not in weightshape "
                    f"{weightshape}, so their sizes are unknown; add them to the weight (size 1 broadcasts not)"
                )
            wlab, ilab, olab = weightshape, ishape, oshape
            isize, osize = [sizes[n] for n in ishape], [sizes[n] for n in oshape]
        super().__init__(
            ishape=ishape, oshape=oshape, isize=isize, osize=osize, dtype=weight.dtype, device=weight.device
        )
        self.weight = weight
        self.labels = (tuple(wlab), tuple(ilab), tuple(olab))
        self.plain = plain

    def _plans(self):
        plans = self.__dict__["_cache"].get("plans")
        if plans is None:
            wlab, ilab, olab = self.labels
            sizes = dict(zip(wlab, self.weight.shape))
            plans = self.__dict__["_cache"]["plans"] = (
                EinsumPlan([wlab], ilab, olab, sizes),
                EinsumPlan([wlab], olab, ilab, sizes),
            )
        return plans

    def _matrix(self, dtype):
        M, N = self.shape
        return _cast(self.weight, dtype).reshape(M, N)

    def _apply(self, x):
        if self.plain:
            M, N = self.shape
            nb = x.dim() - len(self.isize)
            y = x.reshape(*x.shape[:nb], N) @ self._matrix(x.dtype).mT
            return y.reshape(*x.shape[:nb], *self.osize)
        return self._plans()[0]([_cast(self.weight, x.dtype)], x)

    def _apply_adjoint(self, y):
        if self.plain:
            M, N = self.shape
            nb = y.dim() - len(self.osize)
            x = y.reshape(*y.shape[:nb], M) @ self._matrix(y.dtype).conj()
            return x.reshape(*y.shape[:nb], *self.isize)
        return self._plans()[1]([_cast(self.weight, y.dtype).conj()], y)

    def _adjoint(self):
        if self.plain:
            M, N = self.shape
            return Dense(
                self._matrix(self.dtype).mH.reshape(*self.isize, *self.osize), ishape=self.oshape, oshape=self.ishape
            )
        wlab, ilab, olab = self.labels
        return Dense(self.weight.conj(), ishape=self.oshape, oshape=self.ishape, _labels=(wlab, olab, ilab))

    def _conj(self):
        return Dense(self.weight.conj(), ishape=self.ishape, oshape=self.oshape, _labels=self.labels)

    def _renamed(self, ishape, oshape):
        if self.plain:  # keep the plain-matrix fast path
            return Dense(self.weight.reshape(*self.osize, *self.isize), ishape=ishape, oshape=oshape)
        return Dense(self.weight, ishape=ishape, oshape=oshape, _labels=self.labels)

    def _normal(self):
        # Aᴴ A as one Gram weight: plain G = Wᴴ W; einsum: contract the output names and
        # the weight-only names, keep names shared by input and output elementwise.
        if self.plain:
            W = self._matrix(self.dtype)
            G = (W.mH @ W).reshape(*self.isize, *self.isize)
            return Dense(G, ishape=self.ishape, oshape=self.ishape)
        wlab, ilab, olab = self.labels
        contracted = [l for l in ilab if l not in olab]
        taken = set(wlab) | set(ilab) | set(olab)
        prime = {l: _fresh(l, taken) for l in contracted}
        only_w = [l for l in wlab if l not in ilab and l not in olab]
        wprime = {l: _fresh(l, taken) for l in only_w}
        left = tuple(wprime.get(l, l) for l in wlab)  # conj(W) with its own weight-only names
        right = tuple(prime.get(l, l) for l in wlab)  # W acting on the primed input names
        glab = tuple(dict.fromkeys(l for l in (*ilab, *(prime[c] for c in contracted)) if l in left or l in right))
        sizes = dict(zip(wlab, self.weight.shape))
        sizes.update({prime[c]: sizes[c] for c in contracted})
        sizes.update({wprime[c]: sizes[c] for c in only_w})
        letters = {l: _LETTERS[i] for i, l in enumerate(dict.fromkeys((*left, *right, *glab)))}
        eq = (
            "".join(letters[l] for l in left)
            + ","
            + "".join(letters[l] for l in right)
            + "->"
            + "".join(letters[l] for l in glab)
        )
        G = torch.einsum(eq, self.weight.conj(), self.weight)
        new_ilab = tuple(prime.get(l, l) for l in ilab)
        return Dense(G, ishape=self.ishape, oshape=self.ishape, _labels=(glab, new_ilab, ilab))

    def _diagonal(self):
        M, N = self.shape
        if self.plain:
            return self.weight.reshape(M, N).diagonal()  # the main diagonal of the (M, N) matrix, min(M, N) long
        idx = torch.arange(min(M, N), device=self.device)
        return self.entries(idx, idx)

    def entries(self, rows, cols):
        """The matrix entries ``A[rows[k], cols[k]]`` without forming the matrix.

        Each flat index is split into the named dims' digits; an einsum label on both sides is
        elementwise (entries with different digits there are 0) and a weight-only label is summed.
        Cost ``O(len(rows) · (weight-only sizes))``.

        Parameters
        ----------
        rows, cols : torch.Tensor
            1-D integer tensors of one length: row indices in ``[0, M)``, column indices in ``[0, N)``.

        Returns
        -------
        torch.Tensor
            ``(len(rows),)`` in the operator's dtype.

        Examples
        --------
        >>> import torch, lazylinops as ll
        >>> A = ll.Dense(torch.arange(6.0).reshape(2, 3))
        >>> A.entries(torch.tensor([0, 1]), torch.tensor([2, 0])).tolist()
        [2.0, 3.0]
        """
        wlab, ilab, olab = self.labels
        digits, same = {}, None
        for labs, sizes, flat in ((olab, self.osize, rows), (ilab, self.isize, cols)):
            for lab, n in reversed(list(zip(labs, sizes))):
                d, flat = flat % n, flat // n
                if lab in digits:  # a label on both sides: elementwise, 0 off its diagonal
                    same = digits[lab] == d if same is None else same & (digits[lab] == d)
                else:
                    digits[lab] = d
        kept = [i for i, lab in enumerate(wlab) if lab in digits]
        summed = [i for i, lab in enumerate(wlab) if lab not in digits]
        w = self.weight.permute(*kept, *summed)
        vals = w[tuple(digits[wlab[i]] for i in kept)] if kept else w.expand(rows.shape[0], *w.shape)
        vals = vals.reshape(rows.shape[0], -1).sum(-1) if summed else vals
        vals = vals.to(self.dtype)
        return vals if same is None else torch.where(same, vals, torch.zeros((), dtype=self.dtype, device=self.device))

    def _to_dense(self):
        if self.plain:
            return self._matrix(self.dtype)
        return super()._to_dense()

    def _inverse(self):
        M, N = self.shape
        return DenseInverse(self) if self.plain and M == N else None  # W⁻¹ by LU (Cholesky when tagged pd)

    def _slogdet(self):
        # det W by LU of the plain (M, M) weight (so Kronecker, Chain and Q D Qᴴ of Dense factors have one too)
        return torch.linalg.slogdet(self._matrix(self.dtype)) if self.plain else None

    def _split(self, tile):
        # W[rows, cols]: an output-only dim slices rows, an input-only dim columns, a dim
        # shared by input and output (one einsum label) slices both — always by weight label

        tile = relevant(self, tile)
        if not tile:
            return self
        wlab, ilab, olab = self.labels
        positions = {}
        for d, s in tile.items():
            li = ilab[self.ishape.index(d)] if d in self.ishape else None
            lo = olab[self.oshape.index(d)] if d in self.oshape else None
            if li is not None and lo is not None and li != lo:
                raise ShapeError(
                    f"Dense {self.oshape}←{self.ishape} cannot be split along {d!r}: it names both an input "
                    "and an output dim but the matrix is not elementwise along it (blocks off the diagonal "
                    "would be lost); rename one side or split another dim"
                )
            positions[wlab.index(li if li is not None else lo)] = s
        w = slice_weight(self.weight, positions)
        sizes = dict(zip(wlab, w.shape))
        isize, osize = [sizes[l] for l in ilab], [sizes[l] for l in olab]
        elementwise = all(d in self.ishape and d in self.oshape for d in tile)
        return resized(self, isize, osize, keep_tags=elementwise, weight=w)

    def _repr_extra(self):
        kind = "matrix" if self.plain else "einsum " + " ".join(self.labels[0])
        return f"{kind} {tuple(self.weight.shape)} {self.weight.dtype}"


class DenseInverse(LinearOperator):
    """``W⁻¹`` of a square plain ``Dense`` by an LU factorisation (Cholesky when tagged pd).

    The first apply is one fused ``torch.linalg.solve`` (LAPACK gesv), as fast as torch for a
    one-off solve; from the second apply on, the factor (O(n³), once) is cached in the
    ``Dense``'s cache per dtype, unless its weight requires grad (then it is rebuilt each call
    so gradients never reuse a stale graph), and applies are O(n²) triangular solves.

    Examples
    --------
    >>> import torch, lazylinops as ll
    >>> W = ll.Dense(torch.tensor([[2.0, 1.0], [0.0, 4.0]]))
    >>> (W._inverse() @ torch.tensor([3.0, 4.0])).tolist()
    [1.0, 1.0]

    Dense equivalent: ``torch.linalg.solve(W, y)``.
    """

    _inverse_factored = True  # LU/Cholesky: ll.solve measures the residual (numerically singular W refused)

    def __init__(self, op):
        # a Dense has structural tags only (no value-derived ones), so these are all of them
        self._init_like(op, adjoint=True, tags=[t for t in ("hermitian", "pd", "psd") if t in op._tags])
        self.op = op

    def _factor(self, dtype):
        op = self.op
        chol = "pd" in op.tags
        key = ("cholesky" if chol else "lu", dtype)
        cache = op._fresh_cache()
        if key in cache:
            return cache[key]
        W = self._matrix(dtype)
        if chol:  # W = L Lᴴ
            L, info = torch.linalg.cholesky_ex(W)
            fac = (L,)
        else:  # P W = L U
            LU, piv, info = torch.linalg.lu_factor_ex(W)
            fac = (LU, piv)
        if int(info) != 0:
            what = (
                "not positive definite (Cholesky failed), though tagged pd"
                if chol
                else "singular (LU found a zero pivot)"
            )
            raise torch.linalg.LinAlgError(
                f"Dense {tuple(op.shape)} is {what}; the system has no unique solution — check the matrix"
                + (", drop the pd tag" if chol else ", or use ll.lstsq for a least-squares solution")
            )
        if not op.weight.requires_grad:
            cache[key] = fac
        return fac

    def _solve(self, y, adjoint):
        M = self._shape[0]
        batch = y.shape[: y.dim() - len(self._isize)]
        one = y.numel() == M  # a single right-hand side: (M, 1) directly, no transposes
        Y = y.reshape(M, 1) if one else y.reshape(-1, M).mT
        dtype = y.dtype
        cache = self.op._fresh_cache()
        if not cache.get("solved") and ("lu", dtype) not in cache and ("cholesky", dtype) not in cache:
            cache["solved"] = True  # a one-off solve: fused LU + solve, no factor kept
            W = self._matrix(dtype)
            X, info = torch.linalg.solve_ex(W.mH if adjoint else W, Y)
            if int(info) != 0:
                self._factor(dtype)  # raises the clear singular-matrix error
        else:
            fac = self._factor(dtype)
            if len(fac) == 1:
                X = torch.cholesky_solve(Y, fac[0])  # (L Lᴴ)⁻¹ = (L Lᴴ)⁻ᴴ
            else:
                X = torch.linalg.lu_solve(fac[0], fac[1], Y, adjoint=adjoint)
        return (X if one else X.mT).reshape(*batch, *self._osize)

    def _matrix(self, dtype):
        """``W`` as an ``(M, M)`` matrix in ``dtype`` (no view op when it already is one)."""
        W = self.op.weight
        W = W if W.dtype == dtype else W.to(dtype)
        return W if W.dim() == 2 else W.reshape(self._shape)

    def _apply(self, y):
        return self._solve(y, False)

    def _apply_adjoint(self, x):
        return self._solve(x, True)  # W⁻ᴴ x by the same factor

    def _inverse(self):
        return self.op

"""Named-dim mistakes: ``A @ B`` / ``A + B`` with differing user-given names warn (``ll.set_names``),
and ``A * x`` with a vector says to use ``A @ x``."""

import threading
import warnings

import pytest
import torch

import lazylinops as ll
from lazylinops.core import algebra

HERE = __file__


def _names_warnings(fn):
    """The NameWarnings ``fn()`` emits (every one, in the default ``"warn"`` mode)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ll.set_names("warn"):
            fn()
    return [w for w in caught if issubclass(w.category, ll.NameWarning)]


def _silent(fn):
    """``fn()`` emits no NameWarning, even in strict mode (where the check would raise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ll.NameWarning)
        with ll.set_names("strict"):
            return fn()


def _ops():
    """``F``: an FFT from ⟨H W⟩ to ⟨Kx Ky⟩ (the user's names); ``G``: a diagonal on ⟨H W⟩."""
    F = ll.FFT((4, 4), "HW", dtype=torch.complex128).rename(oshape="KxKy")
    G = ll.Diagonal(torch.rand(4, 4, dtype=torch.float64) + 1, "HW")
    return F, G


def test_name_warning_is_exported_and_a_user_warning():
    assert issubclass(ll.NameWarning, UserWarning)
    assert {"NameWarning", "set_names", "get_names"} <= set(ll.__all__)
    assert ll.get_names() == "warn"  # the default


def test_forgotten_adjoint_in_composition_warns_and_suggests_H():
    F, G = _ops()
    found = _names_warnings(lambda: G @ F)  # meant G @ F.H: G's input is ⟨H W⟩, F's output ⟨Kx Ky⟩
    assert len(found) == 1
    msg = str(found[0].message)
    assert "⟨H:4 W:4⟩" in msg and "⟨Kx:4 Ky:4⟩" in msg, msg  # both named shapes, with sizes
    assert "H↔Kx" in msg and "W↔Ky" in msg, msg  # how the dims were paired
    assert "A @ B.H" in msg, msg  # F's input names match G's input: the forgotten .H
    assert "set_names('strict')" in msg
    assert found[0].filename == HERE, f"attributed to {found[0].filename}:{found[0].lineno}"
    assert not _names_warnings(lambda: G @ F.H)  # the fix is silent


def test_forgotten_adjoint_on_the_left_suggests_A_H():
    F, G = _ops()
    K = ll.Diagonal(torch.rand(4, 4, dtype=torch.float64) + 1, "KxKy")
    found = _names_warnings(lambda: F @ K)  # F's input is ⟨H W⟩, K's output ⟨Kx Ky⟩ = F's output
    assert len(found) == 1
    msg = str(found[0].message)
    assert "A.H @ B" in msg and "A @ B.H" not in msg, msg
    assert not _names_warnings(lambda: F.H @ K)


def test_unrelated_names_suggest_rename_or_reshape():
    A = ll.Diagonal(torch.rand(3, 5), "XY")
    B = ll.Diagonal(torch.rand(3, 5), "PQ")
    (w,) = _names_warnings(lambda: A @ B)
    msg = str(w.message)
    assert ".H" not in msg.split("Likely fix:")[1].split("Silence")[0], msg  # no .H would help here
    assert "B.rename(oshape=('X', 'Y'))" in msg and "ll.Reshape" in msg, msg


def test_every_user_entry_point_warns():
    F, G = _ops()
    calls = {
        "A @ B": lambda: G @ F,
        "torch.matmul": lambda: torch.matmul(G, F),
        "Tensor.matmul": lambda: G.matmul(F),
        "torch.mm": lambda: torch.mm(G, F),
        "A + B": lambda: F + F.H,
        "A - B": lambda: F - F.H,
        "torch.add": lambda: torch.add(F, F.H, alpha=2),
        "torch.sub": lambda: torch.sub(F, F.H),
    }
    for what, call in calls.items():
        assert len(_names_warnings(call)) == 1, what


def test_sum_with_swapped_names_warns_and_suggests_H():
    F, _ = _ops()
    (w,) = _names_warnings(lambda: F + F.H)  # F: ⟨H W⟩→⟨Kx Ky⟩, F.H the other way
    msg = str(w.message)
    assert "A's output ⟨Kx:4 Ky:4⟩ and B's output ⟨H:4 W:4⟩" in msg, msg
    assert "A's input ⟨H:4 W:4⟩ and B's input ⟨Kx:4 Ky:4⟩" in msg, msg
    assert "A + B.H" in msg, msg
    # one side's names differ: only that side is named, no .H suggested
    D1 = ll.Diagonal(torch.rand(6), "N").rename(oshape="M")
    D2 = ll.Diagonal(torch.rand(6), "N").rename(oshape="P")
    (w,) = _names_warnings(lambda: D1 + D2)
    msg = str(w.message)
    assert "A's output ⟨M:6⟩ and B's output ⟨P:6⟩" in msg and "input" not in msg.split("Likely")[0], msg
    assert "B.rename(ishape=('N',), oshape=('M',))" in msg, msg


def test_default_names_are_silent():
    F, G = _ops()
    W = ll.Dense(torch.randn(16, 16, dtype=torch.float64))  # default names d0 (square)
    R = ll.Dense(torch.randn(16, 6, dtype=torch.float64))  # i0 / o0
    I = ll.Identity((4, 4))  # d0 d1
    K = ll.Kronecker(ll.Dense(torch.randn(4, 4)), ll.Dense(torch.randn(4, 4)))  # d0, d0_1
    assert K.ishape == ("d0", "d0_1")
    calls = [
        lambda: W @ ll.Diagonal(torch.rand(16, dtype=torch.float64), "N"),
        lambda: ll.Diagonal(torch.rand(16, dtype=torch.float64), "N") @ R,
        lambda: F @ ll.FFT((4, 4), dtype=torch.complex128),  # d0 d1
        lambda: G + 2 * I,  # c·I takes the other side's names
        lambda: G @ K,
        lambda: K + G,
        lambda: G + ll.Diagonal(torch.rand(4, 4, dtype=torch.float64)),
    ]
    for call in calls:
        assert not _names_warnings(call)


def test_only_positions_with_two_user_names_count():
    A = ll.Diagonal(torch.rand(3, 4), "HW")
    B = ll.Diagonal(torch.rand(3, 4), ("H", "d1"))  # W vs a default name: no clash
    assert not _names_warnings(lambda: A @ B)
    C = ll.Diagonal(torch.rand(3, 4), ("X", "d1"))
    (w,) = _names_warnings(lambda: A @ C)
    assert "H↔X" in str(w.message) and "W↔d1" not in str(w.message)


def test_a_real_reshape_is_silent():
    """Differing sizes (⟨N:16⟩ after ⟨H:4 W:4⟩) are a reshape the user asked for, not a names mistake."""
    F, _ = _ops()
    D = ll.Diagonal(torch.rand(16, dtype=torch.float64), "N")
    assert not _names_warnings(lambda: D @ F)
    assert not _names_warnings(lambda: F.H @ D.rename(oshape="K"))  # ⟨Kx:4 Ky:4⟩ after ⟨K:16⟩


def test_transposed_names_warn():
    """⟨H W⟩ against ⟨W H⟩ of equal sizes pairs H with W: names are matched by position, not by name."""
    A = ll.Diagonal(torch.rand(4, 4), "HW")
    B = ll.Diagonal(torch.rand(4, 4), "WH")
    (w,) = _names_warnings(lambda: A @ B)
    assert "H↔W" in str(w.message) and "W↔H" in str(w.message)


def test_strict_raises_shape_error_and_allow_is_silent():
    F, G = _ops()
    with ll.set_names("strict"):
        assert ll.get_names() == "strict"
        with pytest.raises(ll.ShapeError, match=r"(?s)⟨H:4 W:4⟩.*⟨Kx:4 Ky:4⟩.*A @ B\.H"):
            G @ F
        with pytest.raises(ValueError, match="set_names"):  # a ShapeError is a ValueError
            torch.add(F, F.H)
        assert isinstance(G @ F.H, ll.LinearOperator)  # matching names pass
    with ll.set_names("allow"):
        assert not _names_warnings_in_current_mode(lambda: G @ F)
        assert not _names_warnings_in_current_mode(lambda: F + F.H)
        P = G @ F  # the result is the names-only join, as before
        dense = G.to_dense().to(torch.complex128) @ F.to_dense()
        torch.testing.assert_close(P.to_dense(), dense)


def _names_warnings_in_current_mode(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [w for w in caught if issubclass(w.category, ll.NameWarning)]


def test_set_names_validates_and_the_context_manager_restores():
    with pytest.raises(ValueError, match=r"set_names: mode must be one of .*'strict'.*got 'error'"):
        ll.set_names("error")
    assert ll.get_names() == "warn"
    with ll.set_names("strict"):
        with ll.set_names("allow"):
            assert ll.get_names() == "allow"
        assert ll.get_names() == "strict"
    assert ll.get_names() == "warn"
    try:
        with ll.set_names("allow"):
            raise KeyError("boom")
    except KeyError:
        pass
    assert ll.get_names() == "warn"  # restored on an exception too
    handle = ll.set_names("allow")  # plain call: stays in force until reset
    assert ll.get_names() == "allow"
    handle.__exit__(None, None, None)
    assert ll.get_names() == "warn"


def test_the_mode_is_per_thread():
    F, G = _ops()
    seen, go, done = {}, threading.Event(), threading.Event()

    def other():
        go.wait(5)
        seen["mode"] = ll.get_names()
        seen["warnings"] = len(_names_warnings_in_current_mode(lambda: G @ F))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with ll.set_names("allow"):
        go.set()
        done.wait(5)
    t.join(5)
    assert seen == {"mode": "warn", "warnings": 1}


def test_internal_compositions_are_not_checked():
    """The library's own ``compose`` / ``add`` (rules, normals, solvers) never report names."""
    F, G = _ops()
    assert _silent(lambda: algebra.compose(G, F)).shape == (16, 16)  # the internal entry point: no check
    assert _silent(lambda: algebra.add(F, F.H)).shape == (16, 16)
    with pytest.raises(ll.ShapeError):  # while the user's entry point is checked
        _silent(lambda: algebra.compose(G, F, user=True))
    with pytest.raises(ll.ShapeError):
        _silent(lambda: algebra.add(F, F.H, user=True))


def test_normals_solvers_and_tiling_do_not_warn():
    F = ll.FFT((2, 4, 4), "CHW", dim="HW", dtype=torch.complex128).rename(oshape="CKxKy")
    A = F @ ll.Diagonal(torch.rand(2, 4, 4, dtype=torch.float64) + 1, "CHW")  # ⟨C H W⟩ → ⟨C Kx Ky⟩
    b = torch.randn(32, dtype=torch.complex128)
    dense = A.to_dense()
    _silent(lambda: (A.N, A.H.N, (A @ A.H).N, A.H @ A, A @ A.H))
    x = _silent(lambda: ll.solve(A.N + 0.5 * ll.Identity((2, 4, 4), "CHW"), A.H @ b, method="cg", rtol=1e-10))
    ref = torch.linalg.solve(dense.mH @ dense + 0.5 * torch.eye(32, dtype=torch.complex128), dense.mH @ b)
    torch.testing.assert_close(x, ref)
    _silent(lambda: ll.lstsq(A, b))
    T = _silent(lambda: ll.distribute(A, ll.BatchSpec({"C": 1}, device_matrix=["cpu", "cpu"])))
    y = _silent(lambda: (T @ b, T.H @ b, T.N @ b, T.N.N))
    torch.testing.assert_close(y[0], dense @ b)
    S = ll.Stack(F, F, odim="S")
    _silent(lambda: (S.N, S.H @ S))


def test_a_times_vector_says_use_matmul():
    A = ll.Dense(torch.randn(4, 4)) + ll.Diagonal(torch.rand(4))
    x = torch.ones(4)
    calls = {
        "A * x": lambda: A * x,
        "x * A": lambda: x * A,
        "torch.mul(A, x)": lambda: torch.mul(A, x),
        "torch.mul(x, A)": lambda: torch.mul(x, A),
        "A.mul(x)": lambda: A.mul(x),
    }
    for what, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with ll.set_densify("warn"):
                out = call()
        torch.testing.assert_close(out, A.to_dense() * x)  # still elementwise, as torch
        msgs = [str(w.message) for w in caught if issubclass(w.category, ll.DensifyWarning)]
        assert len(msgs) == 1 and "for a matrix-vector product use A @ x" in msgs[0], (what, msgs)
        with ll.set_densify("error"), pytest.raises(ll.DensifyError, match="matrix-vector product use A @ x"):
            call()
    with ll.set_densify("error"):
        assert isinstance(A * torch.tensor(2.0), ll.LinearOperator)  # a 0-d tensor is a scalar: no densify
        with pytest.raises(ll.DensifyError, match=r"Hadamard\) product.*use A @ B"):
            A * A
    with ll.set_densify("error"), pytest.raises(ll.DensifyError) as info:
        torch.exp(A)
    assert "A @ x" not in str(info.value)  # the hint is only for a product

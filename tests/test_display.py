"""What ``repr``, the Jupyter HTML and ``ll.show`` show: tiles and their devices, exact cut counts,
Scalar values, tags equal to ``A.tags``; none of them densifies."""

import re
import sys

import pytest
import torch

import lazylinops as ll
from lazylinops import display
from lazylinops.core import basic

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def _root_tags(text):
    """``(tags, complete)`` as the root line of a repr shows them."""
    m = re.search(r"\[([^\]]*)\]", text.splitlines()[0])
    if m is None:
        return frozenset(), True
    body = m.group(1)
    complete = "value tags on request" not in body
    body = body.replace("+value tags on request", "").replace("value tags on request", "")
    return frozenset(t.strip() for t in body.split(",") if t.strip()), complete


def _tiled():
    A = ll.FFT((4, 8), "CN", dim="N") @ ll.Diagonal(torch.rand(4, 8), "CN")
    return ll.distribute(A, ll.BatchSpec({"C": 1}, device_matrix=["cpu", "meta"]))


def _sum_of_chains(n):
    """A Sum of ``n`` Chains of two leaves: ``1 + 3 n`` nodes."""
    return ll.Sum(*[ll.Diagonal(torch.rand(3) + k) @ ll.FFT((3,)) for k in range(n)])


def _count(op):
    return 1 + sum(_count(c) for c in op.children())


# ---------------------------------------------------------------- tiles
def test_tiles_show_their_region_and_device_in_text_and_html():
    T = _tiled()
    text, page = repr(T), T._repr_html_()
    for k, dev in enumerate(["cpu", "meta", "cpu", "meta"]):
        line = f"tile {k} C[{k}:{k + 1}] on {dev}"
        assert line in text and line in page
    assert text.count("moved cpu⇄meta") == 2
    assert "ToDevice" not in text  # the moves are said in the tile's label, not listed as children
    assert text.count("Chain") == 4 and text.count("─ FFT") == 4


def test_sharded_lists_every_tile_with_its_place():
    held = ll.Dense(torch.randn(2, 4), ishape="N", oshape="M")
    S = ll.Sharded(
        [held, None, None],
        [((0, 4),)] * 3,
        [((0, 2),), ((2, 4),), ((4, 6),)],
        [0, 1, 1],
        ishape=("N",),
        oshape=("M",),
        isize=(4,),
        osize=(6,),
        dtype=torch.float32,
        device="cpu",
    )
    text = repr(S)
    assert "tile 0 M[0:2] on cpu (rank 0, here) · Dense" in text
    assert "tile 1 M[2:4] on rank 1 (not held here)" in text and "tile 2 M[4:6] on rank 1" in text
    assert "tile 2 M[4:6] on rank 1 (not held here)" in S._repr_html_()


# ---------------------------------------------------------------- truncation
def test_cuts_count_exactly_the_hidden_children_and_nodes():
    A = _sum_of_chains(30)
    assert _count(A) == 91
    text = repr(A)
    # 16 children shown (MAX_CHILDREN), each with its 2 leaves: 1 + 16 * 3 lines shown
    assert "… 14 more children hidden (42 nodes)" in text
    assert f"({1 + 16 * 3} of 91 nodes shown" in text
    assert len([ln for ln in text.splitlines() if "Diagonal" in ln]) == 16
    shallow = display.tree(A, max_depth=1)
    assert shallow.count("… 2 children hidden (2 nodes)") == 16 and "(17 of 91 nodes shown" in shallow
    few = display.tree(A, max_nodes=5)  # breadth first: the root and its first four children
    assert "… 26 more children hidden (78 nodes)" in few and few.count("Chain") == 4
    assert few.count("children hidden (2 nodes)") == 4 and "(5 of 91 nodes shown" in few
    everything = display.tree(A, max_children=100, max_nodes=1000)
    assert "hidden" not in everything and len(everything.splitlines()) == 91
    page = A._repr_html_()
    assert "… 14 more children hidden (42 nodes)" in page and "of 91 nodes shown" in page


def test_small_trees_are_not_cut():
    A = _sum_of_chains(3)
    text = repr(A)
    assert "hidden" not in text and "nodes shown" not in text and len(text.splitlines()) == 10


# ---------------------------------------------------------------- Scalar values
def test_scalar_values_are_shown():
    assert "value 2.5 float32" in repr(ll.Scalar(2.5, (3,)))
    assert "value (1.0-2.0j) complex64" in repr(ll.Scalar(1 - 2j, (3,)))
    w = torch.tensor(-0.125, dtype=torch.float64, requires_grad=True)
    assert "value -0.125 float64 (requires grad)" in repr(ll.Scalar(w, (3,)))
    assert "value 3.0" in repr(ll.Scalar(3.0, (4,), "N") @ ll.FFT((4,), "N"))  # a Scalar inside a chain
    # a weight off the CPU is not read (it would wait for the device): its place is said instead
    assert "value (on meta) float32" in repr(ll.Scalar(torch.empty((), device="meta"), (3,)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_repr_does_not_sync():
    S = ll.Scalar(torch.tensor(2.0, device="cuda"), (3,))
    D = ll.Diagonal(torch.rand(5, device="cuda") + 1)
    torch.cuda.set_sync_debug_mode("error")
    try:
        text, page = repr(S) + repr(D @ ll.FFT((5,), device="cuda")), D._repr_html_()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert "value (on cuda:0)" in text and "value tags on request" in page


# ---------------------------------------------------------------- tags
def test_tags_shown_equal_tags_when_none_depend_on_values():
    for A in (ll.FFT((4,)), ll.Identity((3,)), ll.Dense(torch.randn(3, 3)), ll.FFT((4,)).N):
        shown, complete = _root_tags(repr(A))
        assert complete and shown == A.tags, (repr(A), A.tags)


def test_value_tags_are_never_computed_by_the_repr(monkeypatch):
    calls = []
    original = basic.value_tags
    monkeypatch.setattr(basic, "value_tags", lambda w: calls.append(1) or original(w))
    D = ll.Diagonal(torch.rand(4) + 1)
    A = D @ ll.FFT((4,)) + ll.Identity((4,))
    for op in (D, A, D.H):
        shown, complete = _root_tags(repr(op))
        op._repr_html_()
        assert not complete and shown <= set(op._tags)
    assert calls == []
    # once asked for, A.tags is what the repr shows, exactly
    assert D.tags == {"hermitian", "pd", "psd"} and calls == [1]
    shown, complete = _root_tags(repr(D))
    assert complete and shown == D.tags
    assert "[hermitian, pd, psd]" in D._repr_html_()
    # a weight changed in place: the repr is back to the structural tags until asked again
    with torch.no_grad():
        D.weight.neg_()
    shown, complete = _root_tags(repr(D))
    assert not complete and shown == {"hermitian"}
    assert D.tags == {"hermitian"}
    assert _root_tags(repr(D)) == (D.tags, True)


# ---------------------------------------------------------------- nothing densifies
def test_repr_html_and_show_of_big_composites_never_densify():
    big = _sum_of_chains(20) @ ll.Diagonal(torch.rand(3))
    huge = ll.Diagonal(torch.rand(10**5)) @ ll.FFT((10**5,)) + ll.Scalar(2.0, (10**5,))
    T = _tiled()
    with ll.set_densify("error", limit_bytes=64):  # any dense matrix above 64 B raises DensifyError
        for A in (big, huge, T):
            repr(A), A._repr_html_(), str(A)
            fig = ll.show(A)
            assert len(fig.axes) == 1 and not fig.axes[0].images  # boxes, no image
        with pytest.raises(ll.DensifyError):
            big.to_dense()  # the guard is on


# ---------------------------------------------------------------- ll.show
def _images(fig):
    return [a for a in fig.axes if a.images]


def test_show_real_draws_the_values():
    from matplotlib.figure import Figure

    A = ll.Dense(torch.randn(5, 7), ishape="N", oshape="M")
    fig = ll.show(A)
    assert isinstance(fig, Figure) and len(_images(fig)) == 1 and len(fig.axes) == 2  # image + colour bar
    drawn = _images(fig)[0].images[0].get_array()
    assert torch.allclose(torch.as_tensor(drawn.data), A.to_dense())
    assert "M:5" in _images(fig)[0].get_ylabel() and "N:7" in _images(fig)[0].get_xlabel()
    assert fig._repr_png_().startswith(b"\x89PNG")  # what Jupyter displays when the figure is returned


def test_show_complex_draws_magnitude_and_phase():
    A = ll.FFT((6,)) @ ll.Diagonal(torch.rand(6) + 1)
    fig = ll.show(A)
    axes = _images(fig)
    assert len(axes) == 2 and len(fig.axes) == 4
    D = A.to_dense()
    assert torch.allclose(torch.as_tensor(axes[0].images[0].get_array().data), D.abs(), atol=1e-6)
    assert torch.allclose(torch.as_tensor(axes[1].images[0].get_array().data), D.angle(), atol=1e-5)


def test_show_draws_into_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    a, b = fig.subplots(1, 2)
    assert ll.show(ll.FFT((4,)), ax=(a, b)) is fig and a.images and b.images
    with pytest.raises(ValueError, match="needs 2 axes"):
        ll.show(ll.FFT((4,)), ax=a)
    fig2 = Figure()
    c = fig2.subplots()
    assert ll.show(ll.Identity((3,)), ax=c) is fig2 and c.images


def test_show_blocks_view_counts_hidden_nodes():
    A = _sum_of_chains(30)
    fig = ll.show(A, mode="blocks", max_nodes=10)
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.texts]
    assert "(10 of 91 nodes)" in ax.get_title()
    assert sum("Chain" in t for t in texts) == 9 and "… 21 more\n(63 nodes)" in texts
    tiled = [t.get_text() for t in ll.show(_tiled(), mode="blocks").axes[0].texts]
    assert any(t.startswith("tile 1 C[1:2] on meta") for t in tiled)


def test_show_refuses_what_it_cannot_draw():
    with pytest.raises(ll.ShapeError, match=r"Diagonal \(10000×10000\).*100,000,000 entries.*mode='blocks'"):
        ll.show(ll.Diagonal(torch.rand(10**4)))
    with pytest.raises(ll.ShapeError, match=r"64 entries, over max_entries=10\."):
        ll.show(ll.FFT((8,)) @ ll.FFT((8,)), mode="matrix", max_entries=10)
    with pytest.raises(ll.ShapeError, match="meta"):
        ll.show(ll.Diagonal(torch.rand(4, device="meta")))
    with ll.set_densify("warn", limit_bytes=100):
        with pytest.raises(ll.ShapeError, match="densify limit"):
            ll.show(ll.Dense(torch.randn(8, 8)))
    with pytest.raises(ValueError, match="mode must be one of"):
        ll.show(ll.FFT((4,)), mode="picture")
    with pytest.raises(TypeError, match="LinearOperator"):
        ll.show(torch.eye(3))


def test_show_without_matplotlib_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[plot\]'"):
        ll.show(ll.FFT((4,)))

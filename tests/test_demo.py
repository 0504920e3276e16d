"""``python -m lazylinops demo``: a real reconstruction (error counted against the phantom), the
figure with and without matplotlib, and the Toeplitz path counted free of gridding."""

import re
import sys

import pytest
import torch
from counting import count_calls

import lazylinops as ll
from lazylinops import __main__ as cli
from lazylinops import demo
from lazylinops.operators import nufft as nufft_module

TINY = ["--size", "32", "--coils", "4"]
FINAL = re.compile(r"reconstruction relative error: (\d+\.\d{4})")


def _final_error(out):
    last = out.rstrip("\n").splitlines()[-1]
    m = FINAL.fullmatch(last)
    assert m, f"the demo must end with 'reconstruction relative error: <value>', got {last!r}"
    return float(m.group(1))


def test_demo_reconstructs_and_writes_the_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert cli.main(["demo", *TINY, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    err = _final_error(out)
    # a reconstruction, not a blur: TV beats CG beats the density-compensated adjoint, and is close to the truth
    found = re.search(r"gridding .* ([\d.]+), CG ([\d.]+), TV ([\d.]+)", out)
    grid, cg, tv = (float(v) for v in found.groups())
    assert tv == pytest.approx(err, abs=1e-3) and tv < cg < grid
    assert err < 0.2  # 0.180 at 32×32 with 4 coils, 16 spokes (3× undersampled), SNR 37 dB
    png = tmp_path / "lazylinops_demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figure written to {png}" in out
    assert "dense matrices avoided" in out and "faster" in out


def test_demo_runs_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib…` now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert demo.main([*TINY, "--iters", "3", "--tv-iters", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert 'pip install -e ".[plot]"' in out
    assert not list(tmp_path.iterdir())
    _final_error(out)


def test_no_figure_flag_and_usage(tmp_path, capsys):
    assert demo.main([*TINY, "--iters", "2", "--tv-iters", "1", "--no-figure", "--out", str(tmp_path)]) == 0
    assert not list(tmp_path.iterdir())
    _final_error(capsys.readouterr().out)
    assert cli.main(["nothing"]) == 2
    with pytest.raises(SystemExit):
        demo.main(["--size", "4"])


def _count_gridding(monkeypatch):
    return count_calls(monkeypatch, nufft_module, "_interp", "_spread")


def _leaves(op):
    kids = op.children()
    return [op] if not kids else [leaf for c in kids for leaf in _leaves(c)]


def test_toeplitz_cg_and_tv_do_no_gridding(monkeypatch):
    P = demo.build_problem(size=24, coils=4)
    assert isinstance(P.A, ll.Tiled) and len(P.A.tiles) == 2
    calls = _count_gridding(monkeypatch)
    b = P.A.H(P.y)
    N = P.A.N
    assert sum(type(op) is ll.ToeplitzNormal for op in _leaves(N)) == 2  # one per coil tile
    calls.update(_interp=0, _spread=0)
    x, res, err = demo.cg(N, b, 6, P.truth)
    assert len(res) == len(err) == 6
    demo.tv_split_bregman(N, b, lam=1e-3, mu=1e-2, outer=2, inner=2, x0=x)
    assert calls == {"_interp": 0, "_spread": 0}, "CG and TV through A.N must not grid"
    # the naive path of the comparison does grid: once per tile per matvec, each way
    demo.cg(P.A_naive.N, b, 6)
    assert calls["_interp"] == calls["_spread"] >= 2 * 6
    assert not any(type(op) is ll.ToeplitzNormal for op in _leaves(P.A_naive.N))


def test_toeplitz_and_naive_cg_agree():
    P = demo.build_problem(size=24, coils=4)
    b = P.A.H(P.y)
    x_t, res_t, _ = demo.cg(P.A.N, b, 5)
    x_n, res_n, _ = demo.cg(P.A_naive.N, b, 5)
    assert demo.relative_error(x_t, x_n) < 1e-3 and len(res_t) == len(res_n) == 5
    assert torch.allclose(torch.tensor(res_t), torch.tensor(res_n), rtol=1e-2)

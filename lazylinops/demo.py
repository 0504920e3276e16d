"""``python -m lazylinops demo``: a multi-coil non-Cartesian MRI reconstruction.

Everything is generated in code (no download): a Shepp–Logan phantom, smooth coil maps,
a golden-angle radial trajectory and complex noise. The forward model is
``A = NUFFT · diag(coil maps) · Broadcast`` (image ``HW`` → k-space ``CK``), tiled over the
coils with ``ll.distribute``. The image is reconstructed by CG on the normal equations
``AᴴA x = Aᴴy``, where ``A.N`` is the Toeplitz-embedded normal (two FFTs per coil and no
gridding per iteration), and by a total-variation regularised solve (split Bregman whose
inner solves are CG on ``AᴴA + μ∇ᴴ∇``, again through the Toeplitz normal). The same CG
is timed through the naive ``Aᴴ(A x)`` (the operator built with ``toeplitz=False``).

Examples
--------
>>> import lazylinops.demo as demo
>>> problem = demo.build_problem(size=24, coils=2, spokes=12)
>>> tuple(problem.A.shape), type(problem.A).__name__
((576, 576), 'Tiled')
"""

import argparse
import importlib
import math
import os
import time
from dataclasses import dataclass

import torch

import lazylinops as ll

from .display import fmt_bytes, weight_bytes

CDTYPE = torch.complex64

# modified Shepp–Logan (Toft): intensity, semi-axes a b, centre x y, rotation (degrees)
ELLIPSES = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def phantom(n, device=None):
    """The ``n``×``n`` modified Shepp–Logan phantom (a sum of ten ellipses).

    Parameters
    ----------
    n : int
        Image size.
    device : torch.device or str, optional
        Where to build it.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` complex64, real values in [0, 1].

    Examples
    --------
    >>> img = phantom(64)
    >>> img.shape, round(img.real.max().item(), 2), img.dtype
    (torch.Size([64, 64]), 1.0, torch.complex64)
    """
    c = torch.linspace(-1, 1, n, dtype=torch.float64, device=device)
    y, x = torch.meshgrid(-c, c, indexing="ij")  # row 0 at the top (y = 1)
    img = torch.zeros(n, n, dtype=torch.float64, device=device)
    for val, a, b, x0, y0, deg in ELLIPSES:
        t = math.radians(deg)
        u = (x - x0) * math.cos(t) + (y - y0) * math.sin(t)
        v = -(x - x0) * math.sin(t) + (y - y0) * math.cos(t)
        img = img + val * ((u / a) ** 2 + (v / b) ** 2 <= 1)
    return img.to(CDTYPE)


def coil_maps(coils, n, device=None):
    """Smooth sensitivities of ``coils`` coils on a ring, with phase, normalised so Σ_c|S_c|² = 1.

    Parameters
    ----------
    coils : int
        Number of coils.
    n : int
        Image size.
    device : torch.device or str, optional
        Where to build them.

    Returns
    -------
    torch.Tensor
        ``(coils, n, n)`` complex64.

    Examples
    --------
    >>> S = coil_maps(4, 16)
    >>> S.shape, bool(torch.allclose(S.abs().pow(2).sum(0), torch.ones(16, 16), atol=1e-5))
    (torch.Size([4, 16, 16]), True)
    """
    c = torch.linspace(-1, 1, n, dtype=torch.float64, device=device)
    y, x = torch.meshgrid(-c, c, indexing="ij")
    maps = []
    for k in range(coils):
        t = 2 * math.pi * k / coils
        px, py = 1.3 * math.cos(t), 1.3 * math.sin(t)
        mag = torch.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * 0.8**2))
        phase = t + 0.7 * (x * math.cos(t) - y * math.sin(t))
        maps.append(mag * torch.exp(1j * phase))
    maps = torch.stack(maps)
    return (maps / maps.abs().pow(2).sum(0, keepdim=True).sqrt()).to(CDTYPE)


def radial_trajectory(spokes, n, device=None):
    """Golden-angle radial k-space locations, in grid units (``[−n/2, n/2)``, as ``ll.NUFFT`` takes).

    Parameters
    ----------
    spokes : int
        Number of spokes; spoke ``j`` has angle ``j·111.25°``.
    n : int
        Samples per spoke (and image size).
    device : torch.device or str, optional
        Where to build them.

    Returns
    -------
    torch.Tensor
        ``(spokes·n, 2)`` float32.

    Examples
    --------
    >>> radial_trajectory(3, 8).shape
    torch.Size([24, 2])
    """
    golden = math.pi * (math.sqrt(5) - 1) / 2  # ≈ 111.25°
    angles = torch.arange(spokes, dtype=torch.float64, device=device) * golden
    r = torch.arange(n, dtype=torch.float64, device=device) - n / 2
    loc = torch.stack([r * torch.cos(angles)[:, None], r * torch.sin(angles)[:, None]], -1)
    return loc.reshape(-1, 2).to(torch.float32)


def _tile_devices(device):
    """Where the coil tiles go: two CPU tiles, or every visible GPU (two tiles on a single one)."""
    device = torch.device(device)
    if device.type != "cuda":
        return [device, device]
    if device.index is None and torch.cuda.device_count() > 1:
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    index = torch.cuda.current_device() if device.index is None else device.index
    return [torch.device("cuda", index)] * 2


@dataclass
class Problem:
    """The generated data and the two (tiled) forward models of one demo run."""

    truth: torch.Tensor  # (H, W) phantom
    maps: torch.Tensor  # (C, H, W) coil sensitivities
    locations: torch.Tensor  # (K, 2) k-space points, grid units
    y: torch.Tensor  # (C, K) noisy k-space
    snr_db: float  # 20·log10(‖A x‖ / ‖noise‖)
    A: ll.LinearOperator  # tiled forward model; A.N is the Toeplitz normal
    A_naive: ll.LinearOperator  # the same model built with toeplitz=False: A.N applies Aᴴ(A x)
    devices: list  # where the coil tiles live


def forward_model(locations, maps, toeplitz=True):
    """``A = NUFFT · diag(maps) · Broadcast``: image ``HW`` → multi-coil k-space ``CK``.

    Parameters
    ----------
    locations : torch.Tensor
        ``(K, 2)`` k-space points in grid units.
    maps : torch.Tensor
        ``(C, n, n)`` coil sensitivities.
    toeplitz : bool
        Whether ``A.N`` is the Toeplitz-embedded normal (True) or ``Aᴴ(A x)`` with gridding.

    Returns
    -------
    ll.LinearOperator
        A ``Chain`` of shape ``(C·K, n·n)``.

    Examples
    --------
    >>> A = forward_model(radial_trajectory(4, 8), coil_maps(2, 8))
    >>> A.ishape, A.oshape, type(A.N).__name__
    (('H', 'W'), ('C', 'K'), 'Chain')
    """
    C, n, _ = maps.shape
    F = ll.NUFFT(locations, (C, n, n), "CHW", "CK", toeplitz=toeplitz)
    S = ll.Diagonal(maps, "CHW")
    B = ll.Broadcast((C, n, n), "CHW", dims="C", dtype=CDTYPE, device=maps.device)
    return F @ S @ B


def build_problem(size=128, coils=8, spokes=None, noise=0.003, device="cpu", seed=0):
    """The phantom, coil maps, trajectory, noisy data and the tiled forward models.

    Parameters
    ----------
    size : int
        Image size ``n`` (``n×n``).
    coils : int
        Number of coils; the forward model is tiled over them (two tiles, or one per GPU).
    spokes : int, optional
        Radial spokes; default ``size // 2``, about 3× below the radial Nyquist rate π/2·size.
    noise : float
        Standard deviation of the complex Gaussian noise, relative to ``max|A x|``.
    device : torch.device or str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    seed : int
        Seed of the noise.

    Returns
    -------
    Problem
        Truth, maps, locations, data ``y``, SNR, ``A`` (Toeplitz normal) and ``A_naive``.
    """
    device = torch.device(device)
    devices = _tile_devices(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    spokes = spokes if spokes is not None else max(8, size // 2)
    truth = phantom(size, device)
    maps = coil_maps(coils, size, device)
    loc = radial_trajectory(spokes, size, device)
    spec = ll.BatchSpec({"C": math.ceil(coils / len(devices))}, device_matrix=devices, base_device=device)
    A = ll.distribute(forward_model(loc, maps), spec)
    A_naive = ll.distribute(forward_model(loc, maps, toeplitz=False), spec)
    clean = A(truth)
    g = torch.Generator(device="cpu").manual_seed(seed)
    e = noise * clean.abs().max().item() * torch.randn(*clean.shape, generator=g, dtype=CDTYPE).to(device)
    snr = 20 * math.log10(clean.norm().item() / e.norm().item()) if noise > 0 else math.inf
    return Problem(truth, maps, loc, clean + e, snr, A, A_naive, devices)


def relative_error(x, truth):
    """``‖x − truth‖ / ‖truth‖`` as a float.

    Examples
    --------
    >>> relative_error(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]))
    1.0
    """
    return ((x - truth).norm() / truth.norm()).item()


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def cg(normal, b, iters, truth=None):
    """``iters`` CG steps (``ll.solve(method="cg")``) on ``normal · x = b`` from 0.

    Parameters
    ----------
    normal : ll.LinearOperator
        A Hermitian positive semi-definite operator, here ``A.N``.
    b : torch.Tensor
        The right-hand side, shaped like the image.
    iters : int
        The iteration budget (CG stops earlier only at a relative residual of 1e-7).
    truth : torch.Tensor, optional
        When given, the error of every iterate is recorded.

    Returns
    -------
    x : torch.Tensor
        The last iterate, shaped like ``b``.
    residuals : list of float
        ``‖b − normal·xₖ‖ / ‖b‖`` per iteration, as CG reports it.
    errors : list of float
        ``relative_error(xₖ, truth)`` per iteration (empty without ``truth``).
    """
    residuals, errors = [], []
    bnorm = b.norm().item()

    def record(it, x, r):
        residuals.append(float(r) / bnorm)
        if truth is not None:
            errors.append(relative_error(x.reshape(truth.shape), truth))

    x = ll.solve(normal, b.reshape(-1), method="cg", rtol=1e-7, maxiter=iters, callback=record, on_failure="ignore")
    return x.reshape(b.shape), residuals, errors


def shrink(v, t):
    """Isotropic shrinkage over the gradient dim: ``v · max(|v| − t, 0) / |v|``, ``|v|`` over dim 0."""
    mag = v.abs().pow(2).sum(0, keepdim=True).sqrt()
    return v * (torch.clamp(mag - t, min=0) / torch.where(mag == 0, torch.ones_like(mag), mag))


def tv_split_bregman(normal, aty, lam, mu, outer, inner, x0, truth=None):
    """Isotropic-TV reconstruction ``min ½‖A x − y‖² + lam·‖|∇x|‖₁`` by split Bregman.

    Only ``normal = A.N`` and ``aty = Aᴴy`` are needed: ``x ← argmin ½‖A x − y‖² +
    (mu/2)‖∇x − d + c‖²`` by ``inner`` warm-started CG steps on ``(AᴴA + mu ∇ᴴ∇) x =
    Aᴴy + mu ∇ᴴ(d − c)`` (with the Toeplitz ``A.N``: no gridding), then
    ``d ← shrink(∇x + c, lam/mu)``, ``c ← c + ∇x − d``. (``ll.split_bregman`` runs the
    same iteration but takes ``A`` itself, so it would grid twice per inner step.)

    Parameters
    ----------
    normal : ll.LinearOperator
        ``AᴴA`` on ``(n, n)`` images.
    aty : torch.Tensor
        ``Aᴴy``, ``(n, n)``.
    lam, mu : float
        TV weight and splitting penalty.
    outer, inner : int
        Bregman iterations and CG steps per x-update.
    x0 : torch.Tensor
        Starting image (here the CG result).
    truth : torch.Tensor, optional
        When given, the error after every outer iteration is recorded.

    Returns
    -------
    x : torch.Tensor
        The reconstruction.
    changes : list of float
        ``‖xₖ₊₁ − xₖ‖ / ‖xₖ₊₁‖`` per outer iteration.
    errors : list of float
        Errors vs ``truth`` per outer iteration (empty without ``truth``).
    """
    n = x0.shape[-1]
    G = ll.Gradient((n, n), "HW", kind="forward", dtype=CDTYPE, device=x0.device)
    H = normal + mu * G.N
    x = x0
    d = shrink(G(x0), lam / mu)  # start the split variable at the shrunk gradient of x0
    c = torch.zeros_like(d)
    errors, changes = [], []
    for _ in range(outer):
        rhs = aty + mu * G.H(d - c)
        xn = ll.solve(H, rhs.reshape(-1), method="cg", x0=x.reshape(-1), maxiter=inner, on_failure="ignore")
        xn = xn.reshape(n, n)
        gx = G(xn) + c
        d = shrink(gx, lam / mu)
        c = gx - d
        changes.append(((xn - x).norm() / xn.norm()).item())
        x = xn
        if truth is not None:
            errors.append(relative_error(x, truth))
    return x, changes, errors


def _timed_cg(normal, b, iters, device, truth):
    """CG through ``normal``: (x, residuals, errors, seconds, peak CUDA bytes or None)."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    x, res, err = cg(normal, b, iters, truth)
    _sync(device)
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) - base if cuda else None
    return x, res, err, seconds, peak


def _matplotlib_figure():
    """matplotlib's ``Figure`` class (Agg canvas, no display), or None when matplotlib is absent."""
    try:
        return importlib.import_module("matplotlib.figure").Figure
    except ImportError:
        return None


def _save_figure(Figure, path, images, curves):
    """Truth, adjoint, CG, TV, error map and convergence curves in one PNG."""
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    for ax, (title, img, cmap, vmax) in zip(axes.reshape(-1), images):
        im = ax.imshow(img.abs().cpu().numpy(), cmap=cmap, vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
        if cmap != "gray":
            fig.colorbar(im, ax=ax, fraction=0.046)
    ax = axes[1, 2]
    for label, start, values, style in curves:
        ax.semilogy(range(start + 1, start + len(values) + 1), values, style, label=label)
    last = max(start + len(values) for _, start, values, _ in curves)
    ax.set_xticks(range(0, last + 1, max(1, last // 8)))
    ax.set_xlabel("iteration (CG, then TV outer iterations)")
    ax.set_title("convergence", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=90)


def run(size=128, coils=8, iters=12, device="cpu", out=".", figure=True, spokes=None, tv_iters=8, tv_inner=3):
    """Build, reconstruct, compare and draw, printing as it goes.

    Parameters
    ----------
    size, coils, spokes : int
        Problem size (see ``build_problem``).
    iters : int
        CG iterations, the same on the Toeplitz and the naive path.
    device : torch.device or str
        ``"cpu"`` (two coil tiles on the CPU), ``"cuda"`` or ``"cuda:N"``.
    out : str
        Folder for ``lazylinops_demo.png``.
    figure : bool
        Draw the figure (needs matplotlib; without it the demo says how to get it).
    tv_iters, tv_inner : int
        Split Bregman outer iterations and CG steps per inner solve.

    Returns
    -------
    dict
        ``errors`` (gridding, CG, TV), ``figure`` (path or None), ``residuals``, ``seconds``,
        ``x_cg``, ``x_tv``. The last printed line is ``reconstruction relative error: <TV error>``.
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("demo: --device cuda but torch.cuda.is_available() is False; use --device cpu")
    t0 = time.perf_counter()
    P = build_problem(size, coils, spokes, device=device)
    A, y, truth = P.A, P.y, P.truth
    device = truth.device
    t_build = time.perf_counter() - t0
    C, K = A.osize
    n2 = A.shape[1]
    item = torch.empty((), dtype=CDTYPE).element_size()
    print(f"lazylinops demo: {coils}-coil radial MRI of a {size}×{size} Shepp–Logan phantom on {device}")
    print(
        f"  trajectory: {K // size} golden-angle spokes × {size} samples = {K} points per coil, "
        f"{C * K} complex samples, noise SNR {P.snr_db:.0f} dB"
    )
    print(f"  A = NUFFT · diag(coil maps) · Broadcast  ({A.shape[0]}×{n2}, {str(CDTYPE).split('.')[-1]})")
    tiles = ", ".join(f"C[{t.osize[0]}] on {d}" for t, d in zip(A.tiles, P.devices))
    print(f"  tiled over coils with ll.distribute: {len(A.tiles)} tiles ({tiles})")
    print(
        f"  dense matrices avoided: A {fmt_bytes(A.shape[0] * n2 * item)}, AᴴA {fmt_bytes(n2 * n2 * item)}; "
        f"the operator holds {fmt_bytes(weight_bytes(A))} (coil maps, gridding plan)"
    )

    b = A.H(y)  # Aᴴy: the right-hand side of the normal equations
    t0 = time.perf_counter()
    N = A.N  # Toeplitz normal: one adjoint gridding on the doubled grid per tile, once
    _sync(device)
    t_setup = time.perf_counter() - t0
    check = relative_error(N(b), P.A_naive.N(b))
    print(
        f"  setup {t_build:.2f} s; Toeplitz kernels (A.N, once) {t_setup:.2f} s; "
        f"‖A.N b − Aᴴ(A b)‖/‖Aᴴ(A b)‖ = {check:.1e}"
    )

    print(f"\nCG on AᴴA x = Aᴴy through the Toeplitz normal, {iters} iterations (relative residual, error vs truth):")
    x_cg, res, err, t_toep, peak_toep = _timed_cg(N, b, iters, device, truth)
    for i in range(0, len(res), 4):
        print("  " + "   ".join(f"{j + 1:3d}: {res[j]:.1e} {err[j]:.3f}" for j in range(i, min(i + 4, len(res)))))
    N_naive = P.A_naive.N
    x_nv, res_nv, _, t_naive, peak_naive = _timed_cg(N_naive, b, iters, device, truth)  # same callback work
    print(f"\nthe same {len(res_nv)} CG iterations, Toeplitz normal vs naive Aᴴ(A x) (toeplitz=False):")
    print(f"  time           {t_toep:9.2f} s  vs {t_naive:9.2f} s   ({t_naive / t_toep:.1f}× faster)")
    print(
        f"  weights held   {fmt_bytes(weight_bytes(N)):>11s}  vs {fmt_bytes(weight_bytes(N_naive)):>11s}   "
        "(bytes of the operator's tensors: Toeplitz kernels + maps vs gridding plan + maps)"
    )
    if peak_toep is not None:
        print(
            f"  peak memory    {fmt_bytes(peak_toep):>11s}  vs {fmt_bytes(peak_naive):>11s}   "
            "(torch.cuda.max_memory_allocated during the solve, above what was allocated before it)"
        )
    else:
        print("  peak memory    measured with --device cuda (torch.cuda.max_memory_allocated); not on CPU")
    print(f"  final iterates differ by {relative_error(x_nv, x_cg):.1e} (relative)")

    scale = b.abs().max().item()
    lam, mu = 2e-3 * scale, 3e-2 * scale
    print(f"\nTV: split Bregman, {tv_iters} outer × {tv_inner} CG steps on AᴴA + μ∇ᴴ∇ (Toeplitz), from the CG image:")
    t0 = time.perf_counter()
    x_tv, _, err_tv = tv_split_bregman(N, b, lam, mu, tv_iters, tv_inner, x_cg, truth)
    _sync(device)
    t_tv = time.perf_counter() - t0
    print("  error vs truth: " + " ".join(f"{e:.3f}" for e in err_tv) + f"   ({t_tv:.2f} s)")

    # gridding reconstruction: adjoint of ramp-density-compensated data, scaled to best fit the truth
    dcf = P.locations.norm(dim=-1).to(device) + 0.5
    grid = A.H(y * dcf)
    x_grid = (torch.vdot(grid.reshape(-1), truth.reshape(-1)) / grid.norm() ** 2) * grid
    errors = {"gridding": relative_error(x_grid, truth), "CG": err[-1], "TV": relative_error(x_tv, truth)}
    print(
        f"\nrelative L2 error vs truth: gridding Aᴴ(D y) (best scaled) {errors['gridding']:.3f}, "
        f"CG {errors['CG']:.3f}, TV {errors['TV']:.3f}"
    )

    path = None
    Figure = _matplotlib_figure() if figure else None
    if figure and Figure is None:
        print('figure skipped: matplotlib is not installed; pip install -e ".[plot]" (or pip install matplotlib)')
    elif Figure is not None:
        os.makedirs(out, exist_ok=True)
        path = os.path.abspath(os.path.join(out, "lazylinops_demo.png"))
        images = [
            ("truth (Shepp–Logan)", truth, "gray", 1.0),
            (f"gridding Aᴴ(D y), error {errors['gridding']:.3f}", x_grid, "gray", 1.0),
            (f"CG {iters} it. (Toeplitz), error {errors['CG']:.3f}", x_cg, "gray", 1.0),
            (f"TV split Bregman, error {errors['TV']:.3f}", x_tv, "gray", 1.0),
            ("|TV − truth|", x_tv - truth, "magma", 0.2),
        ]
        curves = [
            ("CG relative residual", 0, res, "-"),
            ("CG error vs truth", 0, err, "--"),
            ("TV error vs truth (from the CG image)", len(err), err_tv, ":o"),
        ]
        _save_figure(Figure, path, images, curves)
        print(f"figure written to {path}")
    print("reported: the TV image, relative L2 error ‖x − truth‖/‖truth‖")
    print(f"reconstruction relative error: {errors['TV']:.4f}")
    return {
        "errors": errors,
        "figure": path,
        "residuals": res,
        "seconds": {"toeplitz": t_toep, "naive": t_naive, "tv": t_tv},
        "x_cg": x_cg,
        "x_tv": x_tv,
    }


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m lazylinops demo",
        description="Multi-coil radial MRI reconstruction with lazy operators (NUFFT, Toeplitz normal, CG, TV).",
    )
    p.add_argument("--size", type=int, default=128, help="image size N (N×N), default 128")
    p.add_argument("--coils", type=int, default=8, help="number of receive coils, default 8")
    p.add_argument("--spokes", type=int, default=None, help="radial spokes (default N/2: 3× undersampled)")
    p.add_argument("--iters", type=int, default=12, help="CG iterations, default 12")
    p.add_argument("--tv-iters", type=int, default=8, help="split Bregman outer iterations, default 8")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", default=".", help="folder for the PNG figure (default: current directory)")
    p.add_argument("--no-figure", action="store_true", help="skip the figure")
    return p


def main(argv=None):
    """``python -m lazylinops demo [options]``: parse ``argv`` and ``run``.

    Parameters
    ----------
    argv : list of str, optional
        The options (``--size``, ``--coils``, ``--spokes``, ``--iters``, ``--tv-iters``,
        ``--device``, ``--out``, ``--no-figure``); default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 (bad options exit through ``SystemExit`` with a message).
    """
    args = _parser().parse_args(argv)
    try:
        torch.device(args.device)
    except RuntimeError:
        raise SystemExit(
            f"demo: --device must be a torch device such as cpu, cuda or cuda:1, got {args.device!r}"
        ) from None
    for name, least in (("size", 8), ("coils", 1), ("spokes", 1), ("iters", 1), ("tv_iters", 1)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise SystemExit(f"demo: --{name.replace('_', '-')} must be ≥ {least}, got {value}")
    run(
        size=args.size,
        coils=args.coils,
        iters=args.iters,
        device=args.device,
        out=args.out,
        figure=not args.no_figure,
        spokes=args.spokes,
        tv_iters=args.tv_iters,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

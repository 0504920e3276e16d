"""What watches a long solve: the user's ``callback``, the ``show=`` text log and the ``progress=`` bar.

Every solver (``ll.solve``, ``ll.lstsq``, ``ll.inv``, ``ll.cgls``, ``ll.lsqr``, ``ll.regularized_lstsq``,
``ll.fista``, ``ll.split_bregman``, ``ll.power_method``, ``ll.eigsh``) builds one ``Monitor`` and calls it
once per iteration as ``monitor(iteration, x, residual)``; the monitor then

- calls the user's ``callback(iteration, x, residual_norm)`` (``iteration`` counts from 1 across
  restarts; ``x`` and ``residual_norm`` in the caller's layout, see each solver's docstring);
- prints a PyLops-style log when ``show`` is True (iterations 1–10, then 20, 30 … 100, 200 …) or an
  int ``k`` (every ``k``-th iteration): a header (the call, the operator, the tolerances), one line per
  shown iteration (iteration, the relative stopping quantity, the objective where the solver has one)
  and a footer (status, iterations, matvecs, the measured relative residual, time). The last
  iteration is always shown;
- advances a ``tqdm.auto`` bar when ``progress=True`` (the relative stopping quantity as its postfix,
  left visible when done; without tqdm a ``RuntimeWarning`` says how to install it).

The objective is evaluated only on the lines printed (it may cost a matvec there, counted in the
record's ``matvecs``): ``show`` never changes the iterates.
"""

import math
import time

import torch

from ..errors import warn

RULE = "-" * 72


def check_show(who, show):
    """``show``: False, True or an int period ≥ 1 (the iterations between two printed lines)."""
    if isinstance(show, bool) or show is None:
        return bool(show)
    if isinstance(show, int) and show >= 1:
        return int(show)
    raise TypeError(f"{who}: show must be True, False or an int ≥ 1 (print every show-th iteration), got {show!r}")


def check_progress(who, progress):
    if not isinstance(progress, bool):
        raise TypeError(f"{who}: progress must be True or False (a tqdm bar), got {progress!r}")
    return progress


def progress_bar(who, total):
    """A ``tqdm.auto`` bar (left visible when done), or None with a ``RuntimeWarning`` when tqdm is missing."""
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415  an optional dependency, imported only when asked for
    except ImportError:
        warn(
            f"{who}: progress=True needs tqdm, which is not installed (pip install tqdm, or the plot extra: "
            'pip install "lazylinops[plot]"); running without a progress bar (show=True prints a text log)',
            RuntimeWarning,
        )
        return None
    return tqdm(total=total, desc=who, leave=True, unit="it")


def _due(it, show):
    if show is True:
        return it <= 10 or it % 10 ** (len(str(it)) - 1) == 0  # 1..10, 20, 30 … 100, 200 …
    return it == 1 or it % show == 0


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, complex):
        return f"{v.real:.4e}{v.imag:+.4e}j"
    return f"{v:.4e}"


class Monitor:
    """One solve's watcher, called ``monitor(iteration, x, residual)`` by the kernels.

    - ``callback``: the user's callback, already wrapped to take the kernel's ``(it, x, res)``.
    - ``title`` / ``params``: the log's two header lines; ``column``: the stopping quantity's title.
    - ``scale``: what makes the residual relative (``‖b‖``, ``‖Aᴴ b‖`` …, per right-hand side; may
      be set later); ``objective``: ``(title, fn(x) -> float)`` evaluated on printed lines only.
    - ``offset``: iterations already run by an earlier call of the kernel (restarts).
    """

    def __init__(
        self,
        who,
        *,
        callback=None,
        show=False,
        progress=False,
        total=None,
        title="",
        params="",
        column="rel. residual",
        scale=None,
        objective=None,
        iterative=True,
    ):
        self.iterative = iterative
        self.who, self.callback, self.show, self.title, self.params = who, callback, show, title, params
        self.column, self.scale, self.objective = column, scale, objective
        self.offset, self.last, self.printed, self.x, self.res = 0, 0, 0, None, None
        self.started, self.closed = False, False
        self.t0 = time.perf_counter()
        self.bar = progress_bar(who, total) if progress else None

    @property
    def wants_x(self):
        """True when someone looks at ``x`` (a kernel may skip forming it otherwise)."""
        return self.callback is not None or (self.show and self.objective is not None)

    def relative(self, res):
        """The largest stopping quantity relative to its scale (a float; NaN when not measured)."""
        res = torch.as_tensor(res).detach()
        if not res.numel():
            return 0.0
        res = res.reshape(-1).to(torch.float64 if res.device.type != "mps" else torch.float32)
        if self.scale is not None:
            s = torch.as_tensor(self.scale).detach().reshape(-1).to(res)
            res = torch.where(s > 0, res / torch.where(s > 0, s, torch.ones_like(s)), res)
        return float(res.max())

    def __call__(self, it, x, res):
        it = it + self.offset
        self.last, self.x, self.res = it, x, res
        if self.callback is not None:
            self.callback(it, x, res)
        if self.show and _due(it, self.show):
            self._line(it, x, res)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.column}={self.relative(res):.2e}", refresh=False)
            self.bar.update(1)

    def _start(self):
        if not self.started:
            self.started = True
            obj = f"  {self.objective[0]:>18}" if self.objective else ""
            self._print(f"{self.who}: {self.title}" if self.title else self.who)
            if self.params:
                self._print(self.params)
            if self.iterative:
                self._print(RULE)
                self._print(f"{'Itn':>7}{self.column:>16}{obj}")

    def _line(self, it, x, res):
        self._start()
        obj = ""
        if self.objective is not None and x is not None:
            with torch.no_grad():
                obj = f"  {_fmt(self.objective[1](x)):>18}"
        self._print(f"{it:>7}{self.relative(res):>16.4e}{obj}")
        self.printed = it

    def _print(self, line):
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, flush=True)

    def close(self, info=None):
        """The log's last line and footer (status, iterations, matvecs, measured relative residual, time);
        the bar's last postfix (a converged bar is completed, a failed one left where it stopped)."""
        if self.closed:
            return
        self.closed = True
        seconds = time.perf_counter() - self.t0
        rel = None
        if info is not None:
            rel = self.relative(info.residual_norm)
        if self.show:
            self._start()
            if self.last and self.printed != self.last:
                self._line(self.last, self.x, self.res)
            if self.iterative:
                self._print(RULE)
            if info is None:
                self._print(f"stopped by an error after {self.last} iterations, {seconds:.3g} s")
            else:
                measured = "not measured (exact)" if rel is None or math.isnan(rel) else f"{rel:.4e}"
                took = f", {seconds:.3g} s" if self.iterative else ""
                self._print(
                    f"{info.status.name}: {info.iterations} iterations, {info.matvecs} matvecs, "
                    f"{self.column} {measured}{took}"
                )
        if self.bar is not None:
            if info is not None:
                if rel is not None and not math.isnan(rel):
                    self.bar.set_postfix_str(f"{self.column}={rel:.2e} {info.status.name}", refresh=False)
                if info.converged:
                    self.bar.total = self.bar.n  # a converged solve fills its bar
            self.bar.refresh()
            self.bar.close()


def describe(A):
    """``Dense (100, 100) float64`` for a log's header."""
    return f"{type(A).__name__} {tuple(A.shape)} {str(A.dtype).replace('torch.', '')}"


def rhs_count(batch):
    n = int(torch.Size(batch).numel())
    return f"{n} right-hand side{'s' if n != 1 else ''}"

"""Count, don't time: wrap module functions to count their calls in a test."""


def count_calls(monkeypatch, module, *names):
    """``{name: 0, …}`` counting every later call of ``module.<name>`` (restored by ``monkeypatch``)."""
    calls = dict.fromkeys(names, 0)
    for name in names:
        original = getattr(module, name)

        def counted(*args, __name=name, __original=original, **kwargs):
            calls[__name] += 1
            return __original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls

"""Pair-rule tables: structural rules for ``L @ R`` and ``L + R``, registered by type pair.

A rule is a small function ``rule(L, R)`` registered with ``@compose_rule(LType, RType)`` or
``@add_rule(LType, RType)`` right above it, with its maths in a one-line comment. It returns
the replacement (a list of factors for composition, one operator for a sum) or ``None`` when it
does not apply; it never half-applies. ``LinearOperator`` as a type means "any operator".

Lookup walks both classes' MROs, most specific pair first (by the summed MRO distance, then the
left one), rules of one pair in registration order; the result is cached per type pair and the
cache is emptied by every registration. ``folds=True`` marks rules that compute new weight
tensors from the factors' values (skipped when a weight requires grad, see ``compose.foldable``).

This module imports nothing from lazylinops but ``base``, so every operator family can register
its rules beside its classes without an import cycle.
"""

from ..base import LinearOperator


class RuleTable:
    """Rules for pairs of operator classes, looked up (and cached) by the concrete type pair."""

    def __init__(self, name):
        self.name = name
        self._rules = {}  # (L class, R class) -> [(rule, folds), ...] in registration order
        self._cache = {}  # (type(L), type(R)) -> tuple of (rule, folds), most specific first

    def register(self, L_type, R_type, *, folds=False):
        """A decorator registering ``rule(L, R)`` for operators of classes ``L_type``, ``R_type``."""
        for t in (L_type, R_type):
            if not (isinstance(t, type) and issubclass(t, LinearOperator)):
                raise TypeError(
                    f"{self.name}_rule expects two LinearOperator subclasses (LinearOperator for any), got {t!r}"
                )

        def decorator(rule):
            if not callable(rule):
                raise TypeError(f"{self.name}_rule decorates a function rule(L, R), got {rule!r}")
            self._rules.setdefault((L_type, R_type), []).append((rule, bool(folds)))
            self._cache.clear()
            return rule

        return decorator

    def lookup(self, L_type, R_type):
        """The ``(rule, folds)`` pairs that apply to ``(L_type, R_type)``, most specific first."""
        key = (L_type, R_type)
        found = self._cache.get(key)
        if found is None:
            lmro = [c for c in L_type.__mro__ if issubclass(c, LinearOperator)]
            rmro = [c for c in R_type.__mro__ if issubclass(c, LinearOperator)]
            pairs = [(i + j, i, lc, rc) for i, lc in enumerate(lmro) for j, rc in enumerate(rmro)]
            pairs.sort(key=lambda p: p[:2])  # summed MRO distance, then the left one (stable)
            found = tuple(entry for *_, lc, rc in pairs for entry in self._rules.get((lc, rc), ()))
            self._cache[key] = found
        return found

    def __iter__(self):
        """Every registered ``((L class, R class), rule, folds)``."""
        return iter([(pair, rule, folds) for pair, entries in self._rules.items() for rule, folds in entries])


COMPOSE_RULES = RuleTable("compose")
ADD_RULES = RuleTable("add")


def compose_rule(L_type, R_type, *, folds=False):
    """Register ``rule(L, R) -> list | None`` simplifying ``L @ R`` for ``L_type``, ``R_type`` operators."""
    return COMPOSE_RULES.register(L_type, R_type, folds=folds)


def add_rule(L_type, R_type, *, folds=False):
    """Register ``rule(L, R) -> operator | None`` merging ``L + R`` for ``L_type``, ``R_type`` operators."""
    return ADD_RULES.register(L_type, R_type, folds=folds)


def rules_for(table, L_type, R_type):
    """The ``(rule, folds)`` pairs of ``table`` for the type pair, most specific first (cached)."""
    return table.lookup(L_type, R_type)

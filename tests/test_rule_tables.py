"""The pair-rule tables: rules registered by type pair, found through both MROs, cached."""

import inspect

import pytest
import torch

import lazylinops as ll
from lazylinops.core.algebra import ADD_RULES, COMPOSE_RULES, RuleTable, compose_rule, rules_for


class _A(ll.Diagonal):
    """A Diagonal subclass known only to this file."""


class _B(_A):
    """A subclass of the subclass."""


def _rule(tag):
    def rule(L, R):
        return tag

    return rule


def _names(table, L_type, R_type):
    return [rule(None, None) for rule, _ in rules_for(table, L_type, R_type)]


def test_lookup_walks_both_mros_most_specific_first():
    table = RuleTable("test")
    for L_type, R_type in [
        (ll.LinearOperator, ll.LinearOperator),
        (ll.Diagonal, ll.LinearOperator),
        (ll.LinearOperator, ll.Diagonal),
        (_A, ll.Diagonal),
        (_B, _B),
    ]:
        table.register(L_type, R_type)(_rule(f"{L_type.__name__}-{R_type.__name__}"))
    assert _names(table, _B, _B) == [
        "_B-_B",
        "_A-Diagonal",  # distance 1 + 1
        "Diagonal-LinearOperator",  # 2 + 3, left-specific first on ties
        "LinearOperator-Diagonal",  # 3 + 2
        "LinearOperator-LinearOperator",
    ]
    assert _names(table, _A, ll.Diagonal) == [
        "_A-Diagonal",
        "Diagonal-LinearOperator",
        "LinearOperator-Diagonal",
        "LinearOperator-LinearOperator",
    ]
    assert _names(table, ll.Scalar, ll.Scalar) == ["LinearOperator-LinearOperator"]
    assert _names(table, ll.Diagonal, _B) == [
        "Diagonal-LinearOperator",
        "LinearOperator-Diagonal",
        "LinearOperator-LinearOperator",
    ]


def test_rules_of_one_pair_keep_registration_order_and_folds_flag():
    table = RuleTable("test")
    table.register(ll.Diagonal, ll.Diagonal, folds=True)(_rule("first"))
    table.register(ll.Diagonal, ll.Diagonal)(_rule("second"))
    found = rules_for(table, ll.Diagonal, ll.Diagonal)
    assert [r(None, None) for r, _ in found] == ["first", "second"]
    assert [f for _, f in found] == [True, False]


def test_cache_is_invalidated_by_a_registration():
    table = RuleTable("test")
    table.register(ll.LinearOperator, ll.LinearOperator)(_rule("any"))
    assert _names(table, _A, _A) == ["any"]
    assert rules_for(table, _A, _A) is rules_for(table, _A, _A)  # cached per type pair
    table.register(_A, _A)(_rule("specific"))
    assert _names(table, _A, _A) == ["specific", "any"]
    assert _names(table, _B, _A) == ["specific", "any"]


def test_registration_refuses_non_operator_types():
    table = RuleTable("test")
    with pytest.raises(TypeError, match="LinearOperator subclasses"):
        table.register(int, ll.Diagonal)
    with pytest.raises(TypeError, match="function"):
        table.register(ll.Diagonal, ll.Diagonal)(42)


@pytest.fixture
def scratch_compose_table(monkeypatch):
    """The library's compose table, with registrations made in the test undone afterwards."""
    monkeypatch.setattr(COMPOSE_RULES, "_rules", {k: list(v) for k, v in COMPOSE_RULES._rules.items()})
    COMPOSE_RULES._cache.clear()
    yield COMPOSE_RULES
    monkeypatch.undo()
    COMPOSE_RULES._cache.clear()


def test_a_registered_subclass_rule_is_used_and_none_falls_through(scratch_compose_table):
    calls = []

    @compose_rule(_B, _A)
    def _declines(L, R):
        # test only: never applies
        calls.append("declines")
        return None

    a = _A(torch.tensor([1.0, 2.0]))
    b = _B(torch.tensor([3.0, 4.0]))
    out = b @ a  # (_B, _A) rule declines → the Diagonal pair rule (found through the MRO) folds
    assert calls == ["declines"]
    assert type(out) is ll.Diagonal
    torch.testing.assert_close(out.weight, torch.tensor([3.0, 8.0]))

    @compose_rule(_B, _A)
    def _marks(L, R):
        # test only: b a = diag(b) diag(a) with the Diagonal result (the rule under test)
        calls.append("marks")
        return [ll.Diagonal(L.weight * R.weight)]

    calls.clear()
    out = b @ a
    assert calls == ["declines", "marks"] and type(out) is ll.Diagonal
    torch.testing.assert_close(out.weight, torch.tensor([3.0, 8.0]))
    calls.clear()
    assert type(a @ b) is ll.Diagonal and calls == []  # (_A, _B) is not (_B, _A)


def test_fold_rules_are_skipped_for_weights_that_require_grad():
    a = ll.Diagonal(torch.tensor([1.0, 2.0]))
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    g = ll.Diagonal(w)
    assert type(a @ a) is ll.Diagonal and type(a + a) is ll.Diagonal
    assert type(a @ g) is ll.Chain and type(a + g) is ll.Sum  # folds kept apart (stale-weight hazard)
    found = rules_for(COMPOSE_RULES, ll.Diagonal, ll.Diagonal)
    assert found and all(folds for _, folds in found)  # diag(a) diag(b) folds (tag rules are not in the table)
    assert all(folds for _, folds in rules_for(ADD_RULES, ll.Diagonal, ll.Scalar))


def test_every_library_rule_states_its_maths_in_a_comment():
    rules = {rule for table in (COMPOSE_RULES, ADD_RULES) for _, rule, _ in table}
    library = {r for r in rules if r.__module__.startswith("lazylinops.")}
    assert len(library) >= 15
    for rule in library:
        body = inspect.getsource(rule).split(":", 1)[1]
        assert any(line.strip().startswith("#") for line in body.splitlines()), rule.__qualname__

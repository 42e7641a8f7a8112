"""Every route of the newer journeys' blueprints has its bad-input cases, each run by its own
journey's tests/<journey>/test_<journey>_bad_input.py (tests/support/bad_input.py holds them)."""

from tests.support.bad_input import BLUEPRINTS, CASES, PUBLIC, journey_of


def test_every_route_has_its_cases(app):
    """A route added to these blueprints without cases fails here, and so does one whose cases would
    run in another journey's folder (tests/<journey>/test_<journey>_bad_input.py)."""
    have = {}
    for c in CASES:
        have.setdefault((c.rule, c.method), set()).add(c.kind)
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in BLUEPRINTS:
            continue
        assert journey_of(rule.rule) == rule.endpoint.split(".")[0], f"{rule.rule}'s cases run in the wrong folder"
        for method in sorted(rule.methods & {"GET", "POST"}):
            need = {"htmx"} | ({"csrf", "garbled"} if method == "POST" else {"query"})
            if rule.arguments:
                need.add("ids")
            if rule.rule not in PUBLIC:
                need.add("anon")
            lacking = need - have.get((rule.rule, method), set())
            if lacking:
                missing.append(f"{method} {rule.rule}: no {', '.join(sorted(lacking))} case")
    assert not missing, "\n".join(missing)
    known = {(r.rule, m) for r in app.url_map.iter_rules() for m in r.methods}
    stale = {(c.rule, c.method) for c in CASES} - known
    assert not stale, f"cases for routes that do not exist: {sorted(stale)}"
    elsewhere = {c.id for c in CASES if journey_of(c.rule) not in BLUEPRINTS}
    assert not elsewhere, f"cases no journey runs: {sorted(elsewhere)}"

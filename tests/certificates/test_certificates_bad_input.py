"""Bad input on every route of 证明开具 (with the voucher under /orders/ and 证明核验 at /verify): CSRF,
garbled fields, other people's ids, garbage in the query, the same as HTMX, signed out — never a 5xx,
nothing written. The cases and how they are checked: tests/support/bad_input.py."""

import pytest

from tests.support.bad_input import case_id, cases_for, holder, run_case, site  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("clock")

CASES = cases_for("certificates")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input(site, case):  # noqa: F811
    run_case(site, case)

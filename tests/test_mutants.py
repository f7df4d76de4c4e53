"""Mutation testing of the exercises' checks (tools/grading/mutants.py): every wrong variant derived from
the reference solutions, and every forbidden route, loses points; every right variant scores."""

import pytest

from tools.grading import mutants

pytestmark = pytest.mark.slow(110)  # seconds, alone on a 2-core machine: about 700 variants


def test_no_wrong_variant_scores_and_no_right_variant_fails(capsys):
    rows, problems = mutants.run_all()
    with capsys.disabled():
        print("\n" + mutants.table(rows))
    assert not problems, "\n".join(problems)
    assert all(row.wrong >= 3 and row.right >= 1 for row in rows), mutants.table(rows)


def test_the_derived_variants_include_each_kind_of_mistake():
    solution = "def f(x, n):\n    total = 0\n    for i in range(n):\n        total += x[i] * 2\n"
    solution += "    return total + 1\n"
    labels = {variant.label.split(" #")[0] for variant in mutants.derived(solution)}
    assert labels == {"plus1", "minus1", "assign", "swap", "left", "right"}
    assert all(not variant.right for variant in mutants.derived(solution))

"""Fuzz the scores path on the twin: hostile CSVs are rejected cleanly or accepted unchanged.

The inputs and the judge are bench/fault_matrix.py's (one piece serves both): every outcome is
read back from the twin, the run's DynamoDB items and SNS messages, and compared with an
independent reading of the CSV its writer vouched for. Bounded (a few dozen examples) so the
suite stays fast; the bench runs the full matrix of 1,000+ inputs.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fault_matrix import (
    UPLOADS,
    Site,
    Upload,
    Verdict,
    base_rows,
    flip,
    garble,
    hostile_cases,
    run_ids,
)
from bench.fault_matrix import try_directly as deliver
from emulation.core.twin import Twin
from pipeline.scores_object import encode_scores

CASES = hostile_cases(random.Random(0))
IDS = run_ids(seed=99)
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def site(started_twin: Twin) -> Site:
    started_twin.reset()
    return Site.build(started_twin, with_lambda=False)


def assert_clean(verdict: Verdict) -> None:
    assert verdict.outcome in ("rejected", "accepted"), verdict
    assert not (verdict.changed or verdict.duplicate or verdict.missing or verdict.unnamed), verdict


@FUZZ
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**32))
def test_fault_matrix_cases_are_rejected_cleanly_or_accepted_unchanged(site, case, seed):
    run_id = next(IDS)
    assert_clean(deliver(site, run_id, case.make(run_id, random.Random(seed)), case.mode))


# The bench's own ways of damaging a CSV, applied up to three times with drawn seeds.
damage = st.lists(
    st.tuples(st.sampled_from([flip, garble]), st.integers(0, 2**32)), min_size=1, max_size=3
)


@FUZZ
@given(data=st.data(), mode=st.sampled_from(UPLOADS), seed=st.integers(0, 2**32))
def test_random_damage_is_rejected_cleanly_or_accepted_unchanged(site, data, mode, seed):
    """Damage after the proof (``original``, ``unproven``) must never be accepted; damage the
    writer vouched for (``proof``) must be refused or stored exactly; a cut made before the
    proof (``cut-before-hash``: only a cut, since other changes made before hashing are content
    its writer vouched for) must be refused."""
    run_id = next(IDS)
    original = encode_scores(base_rows(run_id, random.Random(seed)))
    if mode == "cut-before-hash":
        body = original.body[: data.draw(st.integers(0, len(original.body) - 1))]
    else:
        body = original.body
        for mutate, mutation_seed in data.draw(damage):
            body = mutate(body, random.Random(mutation_seed)) if body else body
    assert_clean(deliver(site, run_id, Upload(original.body, body, original.rows), mode))

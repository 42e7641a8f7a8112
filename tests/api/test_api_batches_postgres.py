"""On PostgreSQL two batches can arrive at once (two workers): the same batch twice under one
Idempotency-Key is written once and both are answered the same; two keys pushing the same new
due make one due, not two (batches hold an advisory lock from their check to their write)."""

import threading

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import ApiBatch, AuditEntry, Due
from tests.api.test_api_batches import WRITER, due_row, push
from tests.conftest import ON_POSTGRES

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (DATABASE_URL): SQLite writes one at a time"),
]


def at_once(system, calls):
    """Each call's push, all released together, each on its own connection (its own thread)."""
    barrier = threading.Barrier(len(calls))
    answers = [None] * len(calls)

    def run(n, kind, rows, key):
        http = system.http.application.test_client()
        barrier.wait()
        answers[n] = push(type(system)(http, system.client_id, system.secret), kind, rows, key)

    threads = [threading.Thread(target=run, args=(n, *call)) for n, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_the_same_batch_twice_at_once_is_written_once(app, world, ctx, make_system):
    writer = make_system("省社保局系统", scopes=WRITER)
    medical = world.enrollment("王芳", "medical").enrollment_no
    rows = [due_row(medical, "2019-01", 35200), due_row(medical, "2019-02", 35200)]
    first, second = at_once(writer, [("dues", rows, "twin-0001"), ("dues", rows, "twin-0001")])
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.get_json() == second.get_json()
    assert sorted(a.headers.get("Idempotent-Replayed", "") for a in (first, second)) == ["", "true"]
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ApiBatch)) == 1
    periods = db.session.scalars(select(Due.period_start).where(Due.period_start.in_(("2019-01", "2019-02"))))
    assert sorted(periods) == ["2019-01", "2019-02"]
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "api_due.create")) == 2


def test_two_keys_pushing_one_new_due_at_once_make_one_due(app, world, ctx, make_system):
    writer = make_system("省社保局系统", scopes=WRITER)
    medical = world.enrollment("王芳", "medical").enrollment_no
    rows = [due_row(medical, "2019-03", 35200)]
    answers = at_once(writer, [("dues", rows, "key-a-0001"), ("dues", rows, "key-b-0001")])
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(a.get_json()["created"] for a in answers) == [0, 1]
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Due).where(Due.period_start == "2019-03")) == 1

"""Guessing the name that goes with a number is cut short: after a few failures the manual
lookup refuses — even the right name — for a while, per number and per client."""
import datetime as dt

from sqlalchemy import func, select, update

from sbweb.db import db
from sbweb.models import LookupFailure
from sbweb.models.base import utcnow

WANG_FANG = "520102198503151246"


def attempt(client, number, name):
    page = client.page("/auth/manual?next=/selfpay/")
    return client.submit(page, {"id_type": "201", "id_number": number, "name": name})


def test_five_wrong_names_lock_the_number_even_for_the_right_name(client, world, app):
    for guess in ("王一", "王二", "王三", "王四", "王五"):
        assert "证件号码与姓名不一致" in attempt(client, WANG_FANG, guess).text
    refused = attempt(client, WANG_FANG, "王芳")
    assert refused.status == 429 and refused.h1 == "授权信息确认"
    assert "查询失败次数过多，请15分钟后再试" in " ".join(refused.summary())
    assert client.get("/selfpay/").status_code == 303  # not signed in
    # Another number from the same client is still served.
    assert attempt(client, "330106199207084573", "李明").h1 == "我为自己缴"


def test_the_lock_lifts_when_the_window_has_passed(client, world, app):
    for guess in ("王一", "王二", "王三", "王四", "王五"):
        attempt(client, WANG_FANG, guess)
    with app.app_context():
        db.session.execute(update(LookupFailure).values(at=utcnow() - dt.timedelta(minutes=16)))
        db.session.commit()
    assert attempt(client, WANG_FANG, "王芳").h1 == "我为自己缴"


def test_one_client_trying_many_numbers_is_stopped_too(client, world, app):
    app.config["LOOKUP_FAILURES_PER_CLIENT"] = 3
    for number in ("330102198808082426", "520115199501010032", "370212196011203469"):
        attempt(client, number, "不对")
    refused = attempt(client, WANG_FANG, "王芳")
    assert refused.status == 429


def test_no_identity_number_is_stored_in_clear(client, world, app):
    attempt(client, WANG_FANG, "王一")
    with app.app_context():
        keys = db.session.scalars(select(LookupFailure.key)).all()
        assert len(keys) == 2 and all(WANG_FANG not in k and len(k) == 64 for k in keys)
        assert db.session.scalar(select(func.count()).select_from(LookupFailure)) == 2

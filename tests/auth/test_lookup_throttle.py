"""Guessing the name that goes with a number is cut short: after a few failures the manual
lookup refuses — even the right name — for a while, per number and per client."""

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from sbweb.db import db
from sbweb.models import LookupFailure, VerificationCode
from sbweb.models.base import utcnow
from tests.support import ResidentClient, form_values, identity_of
from tests.support.journeys import sign_in
from tests.support.wechat_steps import sent_codes

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


# -- the real person during a lock ---------------------------------------------------------------------


def lock(client):
    for guess in ("王一", "王二", "王三", "王四", "王五"):
        attempt(client, WANG_FANG, guess)


def identity_step(client, name):
    page = client.page("/auth/verify/identity?next=/bank/")
    return client.submit(page, {"id_type": "201", "id_number": WANG_FANG, "name": name})


def visible(page) -> str:
    html = page.response.get_data(as_text=True)
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", re.sub(r'value="[^"]*"', "", html))


def test_the_lock_message_says_how_the_real_person_still_gets_in(client, world):
    lock(client)
    refused = attempt(client, WANG_FANG, "王芳")
    message = " ".join(refused.summary())
    assert "「同意授权」" in message and "验证码" in message


def test_during_a_lock_wang_fang_still_signs_in_through_her_host_app(app, client, world):
    lock(client)
    page = sign_in(client, "王芳", verified=True, next_url="/bank/")
    assert page.h1 == "银行账户与缴费协议"
    assert identity_of(client)["level"] == "verified"


def test_during_a_lock_wang_fang_signs_in_with_the_code_mailed_to_her(app, client, world):
    lock(client)
    page = identity_step(client, "王芳")
    assert page.h1 == "输入验证码" and "暂不显示查询结果" in page.text
    assert "w***@" not in page.text  # nothing says the name matched
    [code] = sent_codes(app)
    done = client.submit(page, {"code": code})
    assert done.h1 == "银行账户与缴费协议"
    assert identity_of(client)["level"] == "verified"


def test_during_a_lock_a_wrong_name_reads_exactly_like_the_right_one_and_never_gets_in(app, world):
    app.test_client_class = ResidentClient
    stranger, owner = app.test_client(), app.test_client()
    lock(stranger)
    wrong = identity_step(stranger, "王六")
    right = identity_step(owner, "王芳")
    assert (wrong.status, wrong.url) == (right.status, right.url)
    assert visible(wrong) == visible(right)
    assert len(sent_codes(app)) == 1  # only the real person's mail went
    for n in range(4):
        tried = stranger.submit(wrong, {"code": f"{n:06d}"})
        assert tried.status == 422 and tried.field_error("code") == f"验证码不正确，还可以输入{4 - n}次"
    dead = stranger.submit(wrong, {"code": "999999"})
    assert dead.h1 == "身份验证" and "验证码错误次数过多，请重新获取" in dead.text
    assert identity_of(stranger) == {}
    with app.app_context():
        decoys = db.session.scalars(select(VerificationCode).where(VerificationCode.person_id.is_(None))).all()
        assert len(decoys) == 1 and decoys[0].attempts == 5


def test_the_same_code_page_cannot_be_used_twice(app, client, world):
    lock(client)
    page = identity_step(client, "王芳")
    [code] = sent_codes(app)
    client.submit(page, {"code": code})
    client.post(
        "/auth/sign-out",
        data={"csrf_token": form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]},
    )
    again = client.page("/auth/verify/locked?next=/bank/")
    assert again.h1 == "身份验证"


@pytest.mark.parametrize("name", ["王芳", "王六"])
def test_during_a_lock_every_try_counts_against_the_client_whether_the_name_matched_or_not(app, client, world, name):
    """The per-client count moves the same for a right and a wrong name: its refusal cannot say
    which names were right."""
    app.config["LOOKUP_FAILURES_PER_CLIENT"] = 7
    lock(client)  # 5 counted
    pages = [identity_step(client, name) for _ in range(3)]
    statuses = [p.history[0].status_code if p.history else p.status for p in pages]
    assert statuses == [303, 303, 429]

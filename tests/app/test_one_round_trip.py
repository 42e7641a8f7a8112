"""With JavaScript every step is one round trip (issue 15): an HTMX POST that succeeds answers 200
with the next step and HX-Push-Url instead of 303 + GET; without JavaScript PRG stays."""

import gzip
from urllib.parse import urljoin

import pytest
from werkzeug.datastructures import MultiDict

from tests.support import body_of, form_values
from tests.support.journeys import sign_in

WANG_FANG = {"id_type": "201", "id_number": "520102198503151246", "name": "王芳"}


def post(client, page, data=None, *, htmx, headers=None, selector="main form[method=post]"):
    """Submit page's form as the browser would, as HTMX (from page's URL) or as a plain form."""
    form = page.form(selector)
    values = form_values(form)
    values.update({k: v if isinstance(v, list) else [v] for k, v in (data or {}).items()})
    action = urljoin(page.url, form.get("action") or page.url)
    client.htmx = htmx
    try:
        sent = {"HX-Current-URL": urljoin("http://localhost/", page.url), **(headers or {})} if htmx else {}
        return client.post(action, data=MultiDict([(k, v) for k, vs in values.items() for v in vs]), headers=sent)
    finally:
        client.htmx = False


def session_cookies(response) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sbweb_session=")]


def test_signing_in_answers_with_her_enrollments_and_the_new_session(client, world, app):
    plain = app.test_client()
    answer = post(plain, plain.page("/auth/manual?next=/selfpay/"), WANG_FANG, htmx=False)
    assert answer.status_code == 303 and answer.location == "/selfpay/"

    answer = post(client, client.page("/auth/manual?next=/selfpay/"), WANG_FANG, htmx=True)

    assert answer.status_code == 200
    assert answer.headers["HX-Push-Url"] == "/selfpay/"
    html = body_of(answer).decode()
    assert "<html" not in html and "<h1>我为自己缴</h1>" in html and "520102100000012345" in html
    assert len(session_cookies(answer)) == 1  # the sign-in's cookie, sent once
    page = client.page("/selfpay/")  # the cookie the answer set is the signed-in session
    assert page.status == 200 and "520102100000012345" in page.text


def test_each_selfpay_step_is_one_answer_and_plain_forms_still_redirect(client, world, app):
    plain = app.test_client()
    for who in (client, plain):
        sign_in(who, "王芳")
    dues = client.page("/selfpay/520102100000012345/dues")

    answer = post(plain, plain.page(dues.url), htmx=False)
    assert answer.status_code == 303
    confirm_url = answer.location
    answer = post(client, dues, htmx=True)

    assert answer.status_code == 200 and answer.headers["HX-Push-Url"] == confirm_url
    assert "<h1>缴费信息确认</h1>" in body_of(answer).decode()

    confirm = client.page(confirm_url)
    answer = post(plain, plain.page(confirm_url), htmx=False)
    assert answer.status_code == 303
    method_url = answer.location
    answer = post(client, confirm, htmx=True)
    assert answer.status_code == 200 and answer.headers["HX-Push-Url"] == method_url
    assert "<h1>选择缴款方式</h1>" in body_of(answer).decode()

    # 去支付 leaves the app for the provider's page: HX-Redirect as before, never followed here.
    answer = post(client, client.page(method_url), {"channel": "alipay"}, htmx=True)
    assert answer.status_code == 204 and "HX-Push-Url" not in answer.headers
    assert answer.headers["HX-Redirect"].startswith("/sandbox/")


def test_a_step_with_errors_answers_its_form_as_before(client, world):
    answer = post(client, client.page("/auth/manual?next=/selfpay/"), {**WANG_FANG, "name": "王小芳"}, htmx=True)
    assert answer.status_code in (200, 422) and answer.headers["HX-Push-Url"] == "false"
    assert "<h1>我为自己缴</h1>" not in body_of(answer).decode()
    assert client.page("/selfpay/").history  # still signed out: sent to sign in


def test_signing_out_answers_home_signed_out(client, world):
    sign_in(client, "王芳")
    home = client.page("/")
    assert "王芳" in home.text

    answer = post(client, home, htmx=True, selector="main form.inline-form")

    assert answer.status_code == 200 and answer.headers["HX-Push-Url"] in ("/", "false")
    html = body_of(answer).decode()
    assert "<h1>社保费自助缴纳</h1>" in html and "已退出" in html  # the flash set by the POST, shown once
    assert "identity" not in html and "王芳" not in html


def test_the_next_step_comes_compressed_once(client, world):
    sign_in(client, "王芳")
    dues = client.page("/selfpay/520102100000012345/dues")
    answer = post(client, dues, htmx=True, headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
    body = answer.get_data()
    assert int(answer.headers["Content-Length"]) == len(body)
    assert "<h1>缴费信息确认</h1>" in gzip.decompress(body).decode()


@pytest.mark.parametrize("headers", [{"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}])
def test_a_boosted_post_is_left_to_the_browser(client, world, headers):
    sign_in(client, "王芳")
    dues = client.page("/selfpay/520102100000012345/dues")
    assert post(client, dues, htmx=True, headers=headers).status_code == 303


def test_the_text_size_switch_is_answered_in_place(client, world):
    """app.js posts the 大字 switch in the background and changes the page where it is: a 204,
    nothing followed, nothing pushed."""
    home = client.page("/")
    answer = post(client, home, htmx=True, selector="form.textsize")
    assert answer.status_code == 204 and not answer.data and "HX-Push-Url" not in answer.headers

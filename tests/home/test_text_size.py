"""The 大字 (长辈版) switch: with JavaScript a background POST answered 204; without, the page's
form comes along (the button's form= and formaction=), what was typed is kept encrypted for the
way back to that page only, fills the form once and is then forgotten."""

from urllib.parse import urljoin

from tests.selfpay.test_steps import hx, post_form
from tests.support import form_values

WANG_FANG_ID = "520102198503151246"
MANUAL = "/auth/manual?next=/selfpay/"


def switch_of(page):
    return page.soup.select_one("header button.textsize-button")


def set_cookie(response, name: str) -> str:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")), "")


def bring_the_form(client, typed: dict):
    """授权信息确认 with `typed` filled in, then 大字 pressed without JavaScript."""
    page = client.page(MANUAL)
    button = switch_of(page)
    assert button["form"] == page.soup.select_one("main form")["id"] == "typed-form"
    assert button["formmethod"] == "post"
    return client.post(urljoin(page.url, button["formaction"]), data=post_form(page, typed))


def test_the_switch_brings_the_pages_form_along_and_it_comes_back_filled_once(client, world):
    response = bring_the_form(client, {"id_number": WANG_FANG_ID, "name": "王芳"})
    assert response.status_code == 303 and response.location == MANUAL
    kept = set_cookie(response, "sbweb_typed")
    assert "Path=/auth/manual" in kept and "HttpOnly" in kept and "Max-Age=120" in kept, kept
    assert WANG_FANG_ID not in kept and "%E7%8E%8B%E8%8A%B3" not in kept, "typed values readable in the cookie"
    assert "sbweb_text=large" in set_cookie(response, "sbweb_text")

    back = client.page(MANUAL)
    assert back.soup.html.get("class") == ["large-text"]
    values = form_values(back.form())
    assert values["id_number"] == [WANG_FANG_ID] and values["name"] == ["王芳"]
    assert values["next"] == ["/selfpay/"]
    assert not back.soup.select("[data-error-summary]"), "a kept form is shown, not checked"
    assert set_cookie(back.response, "sbweb_typed").startswith("sbweb_typed=;"), "not forgotten once read"

    again = client.page(MANUAL)
    assert form_values(again.form())["id_number"] == [""]


def test_kept_values_fill_only_the_page_they_came_from(client, world):
    response = bring_the_form(client, {"id_number": WANG_FANG_ID, "name": "王芳"})
    value = set_cookie(response, "sbweb_typed").split(";")[0].split("=", 1)[1]
    client.delete_cookie("sbweb_typed", path="/auth/manual")
    client.set_cookie("sbweb_typed", value, path="/")  # sent to every page now
    other = client.page("/auth/verify/identity?next=/selfpay/")  # the same fields, another page
    assert form_values(other.form())["id_number"] == [""] and form_values(other.form())["name"] == [""]
    assert set_cookie(other.response, "sbweb_typed").startswith("sbweb_typed=;"), "read, and forgotten"
    client.set_cookie("sbweb_typed", value[:-4] + "AAAA", path="/")  # tampered: nothing, no error
    assert form_values(client.page(MANUAL).form())["id_number"] == [""]


def test_the_switch_alone_keeps_nothing_and_a_page_without_a_form_has_a_plain_switch(client, world):
    home = client.page("/")
    assert not switch_of(home).get("form") and not switch_of(home).get("formaction")
    response = client.post("/prefs/text-size", data=post_form(home, selector="header form"))
    assert response.status_code == 303 and response.location == "/"
    assert not set_cookie(response, "sbweb_typed")


def test_with_javascript_the_switch_answers_204_and_sets_the_cookie(client, world):
    home = client.page("/")
    response = hx(client, "/prefs/text-size", method="POST", data=post_form(home, selector="header form"))
    assert response.status_code == 204 and not response.location
    assert "sbweb_text=large" in set_cookie(response, "sbweb_text")
    assert "HX-Refresh" not in response.headers


def test_the_brought_form_needs_its_csrf_token(client, world):
    page = client.page(MANUAL)
    data = post_form(page, {"id_number": WANG_FANG_ID, "name": "王芳"})
    data.pop("csrf_token")
    response = client.post(urljoin(page.url, switch_of(page)["formaction"]), data=data)
    assert response.status_code == 400
    assert not set_cookie(response, "sbweb_typed") and not set_cookie(response, "sbweb_text")


def test_a_search_form_comes_along_with_the_token_the_switch_carries(client, world):
    """代缴已缴费查询 is a GET form (no token of its own, none in the address): the 大字 button
    brings it along with the token it carries as its own name and value, as a browser sends the
    pressed button; back on the page the typed 证件号码 and 姓名 are there and nothing is searched."""
    from tests.support.journeys import sign_in

    sign_in(client, "王芳", verified=True)
    page = client.page("/queries/proxy-paid")
    button = switch_of(page)
    assert button["form"] == page.soup.select_one("main form[method=get]")["id"] == "typed-form"
    assert not page.soup.select("main form[method=get] input[name=csrf_token]")
    typed = {"id_number": "330106196002020017", "name": "赵秀英"}
    data = post_form(page, typed, selector="main form[method=get]")
    refused = client.post(urljoin(page.url, button["formaction"]), data=data)
    assert refused.status_code == 400 and not set_cookie(refused, "sbweb_typed")

    data.add(button["name"], button["value"])
    response = client.post(urljoin(page.url, button["formaction"]), data=data)
    assert response.status_code == 303 and response.location == "/queries/proxy-paid"
    back = client.page("/queries/proxy-paid")
    values = form_values(back.form("main form[method=get]"))
    assert values["id_number"] == [typed["id_number"]] and values["name"] == ["赵秀英"]
    assert back.response.status_code == 200 and not back.soup.select("[data-error-summary]")
    assert "共" not in back.soup.select_one("main").get_text(), "a kept search is shown, not run"

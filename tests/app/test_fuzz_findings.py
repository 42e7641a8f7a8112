"""What the fuzz run (test_fuzz_forms.py) found, one regression test each."""

from urllib.parse import urlsplit

import pytest

from tests.support import form_values
from tests.support.journeys import post_manual_sign_in

# A `next` with a line break made the redirect's Location header impossible: a 500 (found with
# next="/\n" on 同意授权). A backslash is turned away too: browsers read "/\evil" as "//evil".
BAD_NEXT = ["/\n", "/selfpay/\r\nSet-Cookie: x=1", "/\t", "/\x7f", "/\\evil.example", "/\\\\evil.example"]


def token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


@pytest.mark.parametrize("target", BAD_NEXT)
def test_a_next_with_a_control_character_or_backslash_sends_consent_home(client, world, target):
    response = client.post(
        "/auth/consent",
        data={"csrf_token": token(client), "person": str(world.people["王芳"]), "host": "alipay", "next": target},
    )
    # 同意授权 goes through the sandbox host's authorization and back; then to the safe target.
    for _ in range(5):
        assert response.status_code == 303
        path = urlsplit(response.location).path
        if not path.startswith(("/sandbox/", "/auth/host/")):
            break
        response = client.get(response.location)
    assert response.location == "/"


@pytest.mark.parametrize("target", BAD_NEXT)
def test_the_same_on_the_manual_sign_in_and_the_text_size_switch(client, world, target):
    page = client.page("/auth/manual")
    response = post_manual_sign_in(client, page, next=target)
    assert response.status_code == 303 and response.location == "/"
    switched = client.post("/prefs/text-size", data={"csrf_token": token(client), "size": "large", "next": target})
    assert switched.status_code == 303 and switched.location == "/"


def test_a_bad_next_in_the_address_is_not_put_into_the_form(client, world):
    page = client.page("/auth/manual?next=%2F%0A")
    assert form_values(page.form())["next"] == ["/"]

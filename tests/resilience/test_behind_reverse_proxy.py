"""Behind a reverse proxy every request comes from the proxy's address: with PROXY_FIX_X_FOR
the app counts the lookup limit per resident's own address (X-Forwarded-For), so one person
trying names does not lock everyone else out; without it, forwarded headers are not believed."""

import pytest

from tests.support.journeys import sign_in

WRONG = {"id_type": "201", "id_number": "520102198503151246", "name": "王二"}


def _lookup(client, address):
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address  # as the proxy adds it
    return client.submit(client.page("/auth/manual"), WRONG)


@pytest.mark.parametrize(
    "app", [{"PROXY_FIX_X_FOR": 1, "LOOKUP_FAILURES_PER_CLIENT": 2, "LOOKUP_FAILURES_PER_NUMBER": 100}], indirect=True
)
def test_behind_one_proxy_each_forwarded_client_has_its_own_lookup_limit(app, client, world):
    assert _lookup(client, "127.0.0.2").status == 422
    assert _lookup(client, "127.0.0.2").status == 422
    assert _lookup(client, "127.0.0.2").status == 429
    other = app.test_client()
    assert _lookup(other, "127.0.0.3").status == 422  # someone else behind the same proxy
    assert sign_in(other, "王芳").h1 == "我为自己缴"


@pytest.mark.parametrize("app", [{"LOOKUP_FAILURES_PER_CLIENT": 2, "LOOKUP_FAILURES_PER_NUMBER": 100}], indirect=True)
def test_without_a_trusted_proxy_a_forwarded_address_changes_nothing(app, client, world):
    assert _lookup(client, "127.0.0.2").status == 422
    assert _lookup(client, "127.0.0.3").status == 422
    assert _lookup(client, "127.0.0.4").status == 429  # all one client: the header is not believed

"""UnionPay's test environment: its signing certificates name no organisation but read
`…@00040000:SIGN@…` in their CN (as UnionPay's SDKs take them when ifValidateCNName is false).
They are taken only by a provider configured with environment "test" — whose gateways are then
UnionPay's test hosts, never the live one — and refused otherwise; their chain, validity and
signature are checked all the same. Certificates generated here, shaped as UnionPay's are."""

import dataclasses
import datetime as dt
import re

import pytest

from sbweb.payments import InvalidNotice, ProviderError
from sbweb.payments import unionpay as up
from tests.providers.unionpay.pki import Authority, UnionPayPKI
from tests.providers.unionpay.test_unionpay_config import refused, start  # noqa: F401 (fixture)

TEST_CN = "041@Z12@00040000:SIGN@00000062"  # the CN of UnionPay's test signing certificate
FIELDS = {"version": "5.1.0", "encoding": "UTF-8", "merId": "898000000000001", "respCode": "00"}


@pytest.fixture(scope="module")
def pki():
    return UnionPayPKI.make()


def test_a_test_environment_certificate_is_refused_unless_configured_for_it(pki):
    signed = pki.unionpay_signs(FIELDS, pki.authority.signer(cn=TEST_CN))
    production = pki.authority.trust()
    with pytest.raises(InvalidNotice, match=r"test environment's \(00040000:SIGN\)"):
        production.verify(signed)
    test = dataclasses.replace(production, test_environment=True)
    assert test.verify(signed)["respCode"] == "00"
    assert test.verify(pki.unionpay_signs(FIELDS))["respCode"] == "00"  # UnionPay's own name still


def test_in_the_test_environment_everything_else_is_still_checked(pki):
    test = dataclasses.replace(pki.authority.trust(), test_environment=True)
    stranger = Authority.make("STRANGER").signer(cn=TEST_CN)
    with pytest.raises(InvalidNotice, match="not issued by a configured intermediate"):
        test.verify(pki.unionpay_signs(FIELDS, stranger))
    other = pki.authority.signer(cn="041@Z12@00040000:ENC@00000062")
    with pytest.raises(InvalidNotice, match="is not 中国银联股份有限公司's"):
        test.verify(pki.unionpay_signs(FIELDS, other))
    expired = pki.authority.signer(
        cn=TEST_CN, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(InvalidNotice, match="not valid now"):
        test.verify(pki.unionpay_signs(FIELDS, expired))
    signed = pki.unionpay_signs(FIELDS, pki.authority.signer(cn=TEST_CN))
    with pytest.raises(InvalidNotice, match="bad signature"):
        test.verify({**signed, "respCode": "01"})


def test_environment_test_defaults_to_unionpays_test_hosts(start):  # noqa: F811
    gateway = up.TEST_GATEWAY
    app = start(
        changes={"CSP_FORM_ACTION": (gateway,)}, provider={"environment": "test", "gateway": None, "file_gateway": None}
    )
    provider = app.extensions["sbweb.providers"]["unionpay"]
    assert provider.gateway == gateway == "https://gateway.test.95516.com"
    assert provider.file_gateway == "https://filedownload.test.95516.com"
    assert provider.trust.test_environment and not provider.takes_real_money


def test_production_is_the_default_and_takes_no_test_certificate(start):  # noqa: F811
    provider = start().extensions["sbweb.providers"]["unionpay"]
    assert provider.trust.test_environment is False


@pytest.mark.parametrize(
    "settings, says",
    [
        ({"environment": "test", "gateway": up.LIVE_GATEWAY}, "never on the live gateway"),
        ({"environment": "staging"}, r"\['environment'\]: \"production\" or \"test\""),
        ({"environment": "test", "file_gateway": up.LIVE_FILE_GATEWAY}, "never asks the live file host"),
        ({"file_gateway": "http://files.example"}, r"\['file_gateway'\]: an https URL"),
    ],
)
def test_a_test_environment_beside_live_hosts_is_refused(start, settings, says):  # noqa: F811
    changes = {"CSP_FORM_ACTION": (up.LIVE_GATEWAY,)} if settings.get("gateway") else None
    assert re.search(says, refused(start, changes=changes, provider=settings))


def test_the_client_in_the_test_environment_takes_answers_so_signed(start, unionpay_pki, unionpay):  # noqa: F811
    """Over HTTP: the fake gateway answers signed with a test-environment certificate."""
    app = start(provider={"environment": "test"})
    provider = app.extensions["sbweb.providers"]["unionpay"]
    kept, unionpay.pki.unionpay = unionpay.pki.unionpay, unionpay_pki.authority.signer(cn=TEST_CN)
    try:
        with app.app_context():
            assert provider.bill(dt.date(2026, 11, 23)) == []
        production = start().extensions["sbweb.providers"]["unionpay"]
        with app.app_context(), pytest.raises(ProviderError, match="test environment's"):
            production.bill(dt.date(2026, 11, 23))
    finally:
        unionpay.pki.unionpay = kept

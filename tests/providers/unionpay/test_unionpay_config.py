"""The UnionPay provider as a pilot configures it: what starts, and what is refused with a
message naming the setting (never a password or key)."""

import pytest

from sbweb import create_app
from tests.providers.unionpay.conftest import write_unionpay_files
from tests.providers.unionpay.pki import PFX_PASSWORD, Authority, pem, pfx
from tests.support import start_config

LIVE = "https://gateway.95516.com"


@pytest.fixture
def start(tmp_path, unionpay_pki, unionpay_config):
    def make(changes=None, provider=None):
        config = {**start_config(tmp_path), **unionpay_config}
        if provider is not None:
            config["PAYMENT_PROVIDERS"] = {"unionpay": {**unionpay_config["PAYMENT_PROVIDERS"]["unionpay"], **provider}}
        config.update(changes or {})
        return create_app(config)

    return make


def refused(start, **kwargs) -> str:
    with pytest.raises(RuntimeError) as raised:
        start(**kwargs)
    message = str(raised.value)
    assert PFX_PASSWORD not in message and "PRIVATE KEY" not in message
    return message


def test_the_sample_configuration_starts_and_never_shows_the_key(start):
    provider = start().extensions["sbweb.providers"]["unionpay"]
    assert repr(provider) == "<UnionPayProvider unionpay merId=898000000000001>"
    assert provider.takes_real_money is False


def test_the_live_gateway_refuses_to_start_beside_the_sandbox(start, unionpay):
    live = {"CSP_FORM_ACTION": (LIVE,)}
    message = refused(start, changes=live, provider={"gateway": LIVE})
    assert "SANDBOX_ENABLED must be False" in message and "unionpay" in message
    app = start(
        changes={
            **live,
            "SANDBOX_ENABLED": False,
            "HOST_SANDBOX_ENABLED": False,
            "WITHHOLD_PROVIDER": None,
            "PAYMENT_CHANNELS": {"unionpay": "unionpay"},
        },
        provider={"gateway": LIVE},
    )
    assert app.extensions["sbweb.providers"]["unionpay"].takes_real_money is True


def test_the_gateway_must_be_a_form_action_the_page_may_post_to(start):
    message = refused(start, changes={"CSP_FORM_ACTION": ()})
    assert "add" in message and "to CSP_FORM_ACTION" in message


@pytest.mark.parametrize(
    "provider, says",
    [
        ({"mer_id": "12345"}, "mer_id"),
        ({"sign_pfx_file": ""}, "missing sign_pfx_file"),
        ({"sign_pfx_file": "unionpay/none.pfx"}, "cannot read"),
        ({"gateway": "http://gateway.95516.com"}, "https origin"),
        ({"gateway": "https://gateway.95516.com/gateway/api"}, "https origin"),
        ({"timeout": 0}, "timeout"),
        ({"colour": "red"}, "unknown settings"),
        ({"sign_pfx_password_file": None}, "sign_pfx_password_env"),
        ({"sign_pfx_password_file": None, "sign_pfx_password_env": "SBWEB_TEST_NO_SUCH_VARIABLE"}, "no SBWEB_TEST_NO"),
    ],
)
def test_a_wrong_setting_is_named(start, provider, says):
    message = refused(start, provider=provider)
    assert message.startswith("PAYMENT_PROVIDERS['unionpay']") and says in message


def test_a_wrong_password_or_a_foreign_intermediate_is_refused(start, tmp_path, unionpay_pki):
    folder = tmp_path / "instance" / "unionpay"
    (folder / "acp_sign.password").write_text("wrong\n")
    assert "password does not open it" in refused(start)
    write_unionpay_files(tmp_path / "instance", unionpay_pki)
    (folder / "acp_middle.cer").write_bytes(pem(Authority.make("STRANGER").middle))
    assert "not issued by any configured root" in refused(start)


def test_the_password_may_come_from_the_environment(start, tmp_path, unionpay_pki, monkeypatch):
    monkeypatch.setenv("UNIONPAY_PFX_PASSWORD", PFX_PASSWORD)
    (tmp_path / "instance" / "unionpay" / "acp_sign.password").unlink()
    app = start(provider={"sign_pfx_password_file": None, "sign_pfx_password_env": "UNIONPAY_PFX_PASSWORD"})
    assert "unionpay" in app.extensions["sbweb.providers"]


def test_der_certificates_are_read_as_unionpay_ships_them(start, tmp_path, unionpay_pki):
    from cryptography.hazmat.primitives.serialization import Encoding

    folder = tmp_path / "instance" / "unionpay"
    (folder / "acp_root.cer").write_bytes(unionpay_pki.authority.root.public_bytes(Encoding.DER))
    assert "unionpay" in start().extensions["sbweb.providers"]


def test_a_pfx_whose_certificate_has_expired_is_refused(start, tmp_path, unionpay_pki):
    import datetime as dt

    from tests.providers.unionpay.pki import NOW

    old = unionpay_pki.authority.signer(
        cn="041@Z20@898000000000001@00000001",
        not_before=NOW - dt.timedelta(days=800),
        not_after=NOW - dt.timedelta(days=1),
    )
    (tmp_path / "instance" / "unionpay" / "acp_sign.pfx").write_bytes(pfx(old))
    assert "not valid now" in refused(start)

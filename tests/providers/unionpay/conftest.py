"""Every app in these tests serves 云闪付 through the UnionPay provider, configured as a pilot
configures it (PFX, password and UnionPay's root and intermediate in the instance folder),
against the fake gateway."""

import pytest

from tests.providers.unionpay.fakes import MER_ID, FakeUnionPay
from tests.providers.unionpay.pki import PFX_PASSWORD, UnionPayPKI, pem

PUBLIC_BASE = "https://sb.example"


@pytest.fixture(scope="session")
def unionpay_pki():
    return UnionPayPKI.make()


@pytest.fixture
def unionpay(unionpay_pki):
    fake = FakeUnionPay(unionpay_pki).start()
    yield fake
    fake.stop()


def write_unionpay_files(instance, pki: UnionPayPKI) -> None:
    folder = instance / "unionpay"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acp_sign.pfx").write_bytes(pki.merchant_pfx)
    (folder / "acp_sign.password").write_text(PFX_PASSWORD + "\n")
    (folder / "acp_root.cer").write_bytes(pem(pki.authority.root))
    (folder / "acp_middle.cer").write_bytes(pem(pki.authority.middle))


def unionpay_settings(gateway: str) -> dict:
    return {
        "kind": "unionpay",
        "mer_id": MER_ID,
        "sign_pfx_file": "unionpay/acp_sign.pfx",
        "sign_pfx_password_file": "unionpay/acp_sign.password",
        "root_cert_file": "unionpay/acp_root.cer",
        "middle_cert_file": "unionpay/acp_middle.cer",
        "gateway": gateway,
        "timeout": 5,
    }


@pytest.fixture
def unionpay_config(tmp_path, unionpay_pki, unionpay):
    write_unionpay_files(tmp_path / "instance", unionpay_pki)
    return {
        "PAYMENT_CHANNELS": {"alipay": "sandbox", "wechat": "sandbox", "unionpay": "unionpay"},
        "PAYMENT_PROVIDERS": {"unionpay": unionpay_settings(unionpay.url)},
        "CSP_FORM_ACTION": (unionpay.url,),
        "PUBLIC_BASE_URL": PUBLIC_BASE,
    }


@pytest.fixture
def app_config(unionpay_config):
    return unionpay_config

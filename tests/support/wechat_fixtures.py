"""Fixtures for WeChat: the fakes running, and an app configured for them the way a pilot
configures the real thing (key files in the instance folder, PAYMENT_PROVIDERS, HOST_SIGNIN).
Imported by tests/providers/wechat/conftest.py and by the browser test."""

import pytest

from tests.support.wechat_fakes import (
    APIV3_KEY,
    APPID,
    APPSECRET,
    MCHID,
    MERCHANT_SERIAL,
    PUBLIC_KEY_ID,
    FakeWeChatOAuth,
    FakeWeChatPay,
    Keys,
)

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN"
)


@pytest.fixture(scope="session")
def wechat_keys():
    return Keys.make()


@pytest.fixture
def wechat_oauth():
    fake = FakeWeChatOAuth().start()
    yield fake
    fake.stop()


@pytest.fixture
def wechat_pay(wechat_keys, wechat_oauth):
    fake = FakeWeChatPay(wechat_keys, openids=wechat_oauth.nicknames).start()
    yield fake
    fake.stop()


def write_wechat_files(instance, keys: Keys) -> None:
    folder = instance / "wechat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "apiclient_key.pem").write_text(Keys.pem_private(keys.merchant))
    (folder / "pub_key.pem").write_text(Keys.pem_public(keys.platform))
    (folder / "apiv3_key.txt").write_text(APIV3_KEY + "\n")
    (folder / "appsecret.txt").write_text(APPSECRET + "\n")


def wechat_settings(pay_url: str) -> dict:
    return {
        "kind": "wechatpay",
        "mchid": MCHID,
        "appid": APPID,
        "cert_serial_no": MERCHANT_SERIAL,
        "private_key_file": "wechat/apiclient_key.pem",
        "apiv3_key_file": "wechat/apiv3_key.txt",
        "public_key_file": "wechat/pub_key.pem",
        "public_key_id": PUBLIC_KEY_ID,
        "timeout": 5,
        "gateway": pay_url,
    }


def signin_settings(oauth_url: str, scope: str = "snsapi_base") -> dict:
    return {
        "kind": "wechat",
        "appid": APPID,
        "secret_file": "wechat/appsecret.txt",
        "scope": scope,
        "authorize_url": f"{oauth_url}/connect/oauth2/authorize",
        "api_url": oauth_url,
        "timeout": 5,
    }


@pytest.fixture
def wechat_config(tmp_path, wechat_keys, wechat_pay, wechat_oauth):
    """A pilot's configuration: 支付宝 still in the sandbox, 微信支付 through the adapter, and
    WeChat sign-in — all pointed at the fakes."""
    write_wechat_files(tmp_path / "instance", wechat_keys)
    return {
        "PAYMENT_CHANNELS": {"alipay": "sandbox", "wechat": "wechat"},
        "PAYMENT_PROVIDERS": {"wechat": wechat_settings(wechat_pay.url)},
        "HOST_SIGNIN": {"wechat": signin_settings(wechat_oauth.url)},
    }

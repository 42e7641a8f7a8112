"""A pilot's WeChat configuration is checked when the app starts: each wrong setting stops it
with a message that names the setting (and never shows a key); configurations that cannot
work are refused — UnionPay without a provider, withholding through WeChat Pay, JSAPI without
a WeChat sign-in of the same appid."""

import pytest

from sbweb import create_app
from tests.support import start_config
from tests.support.wechat_fakes import APIV3_KEY, APPSECRET, Keys


@pytest.fixture
def start(tmp_path, wechat_config, wechat_keys):
    """create_app with the working WeChat configuration changed by `changes`."""

    def make(changes=None, provider=None, signin=None):
        config = {**start_config(tmp_path), **wechat_config}
        if provider is not None:
            config["PAYMENT_PROVIDERS"] = {"wechat": {**wechat_config["PAYMENT_PROVIDERS"]["wechat"], **provider}}
        if signin is not None:
            config["HOST_SIGNIN"] = {"wechat": {**wechat_config["HOST_SIGNIN"]["wechat"], **signin}}
        config.update(changes or {})
        return create_app(config)

    make.keys = wechat_keys
    return make


def refused(start, **kwargs) -> str:
    with pytest.raises(RuntimeError) as raised:
        start(**kwargs)
    message = str(raised.value)
    assert APIV3_KEY not in message and "PRIVATE KEY" not in message and APPSECRET not in message
    return message


def test_the_sample_configuration_starts(start):
    app = start()
    assert (
        repr(app.extensions["sbweb.providers"]["wechat"])
        == "<WeChatPayProvider wechat mchid=1900000109 appid=wx8888888888888888>"
    )
    assert APPSECRET not in repr(app.extensions["sbweb.host_signin"]["wechat"])


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("mchid", None, "missing mchid"),
        ("mchid", "19000x0109", "['mchid']: expected 商户号"),
        ("appid", "wechat-app", "['appid']: expected an appid"),
        ("cert_serial_no", "not hex!", "['cert_serial_no']"),
        ("public_key_id", "0119000001", "['public_key_id']: expected the 微信支付公钥 id"),
        ("private_key_file", "wechat/nowhere.pem", "['private_key_file']: cannot read"),
        ("apiv3_key_file", "wechat/pub_key.pem", "['apiv3_key_file']: the APIv3 key is 32 ASCII characters"),
        ("public_key_file", "wechat/apiv3_key.txt", "['public_key_file']: not a PEM public key"),
        ("timeout", 0, "['timeout']"),
        ("gateway", "api.mch.weixin.qq.com/v3", "['gateway']"),
    ],
)
def test_a_wrong_wechat_pay_setting_is_named(start, setting, value, says):
    message = refused(start, provider={setting: value})
    assert message.startswith("PAYMENT_PROVIDERS['wechat']") and says in message


def test_a_key_file_that_is_not_a_key_is_refused_without_showing_it(start, tmp_path):
    (tmp_path / "instance" / "wechat" / "broken.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nQUJDRA==\n-----END PRIVATE KEY-----\n"
    )
    assert "['private_key_file']: not a PEM private key" in refused(
        start, provider={"private_key_file": "wechat/broken.pem"}
    )


def test_jsapi_needs_a_wechat_sign_in_of_the_same_appid(start):
    assert "configure HOST_SIGNIN" in refused(start, changes={"HOST_SIGNIN": {}})
    assert "configure HOST_SIGNIN" in refused(start, signin={"appid": "wx7777777777777777"})


@pytest.mark.parametrize(
    "setting, value, says",
    [
        ("appid", "wx-short", "['appid']"),
        ("scope", "snsapi_login", "['scope']: one of snsapi_base, snsapi_userinfo"),
        ("secret_file", "wechat/none.txt", "['secret_file']: cannot read"),
        ("secret_file", "wechat/apiclient_key.pem", "does not hold an AppSecret"),
    ],
)
def test_a_wrong_wechat_sign_in_setting_is_named(start, setting, value, says):
    no_wechat_pay = {"PAYMENT_PROVIDERS": {}, "PAYMENT_CHANNELS": {"alipay": "sandbox", "wechat": "sandbox"}}
    message = refused(start, signin={setting: value}, changes=no_wechat_pay)
    assert message.startswith("HOST_SIGNIN['wechat']") and says in message


def test_withholding_through_wechat_pay_is_refused(start):
    assert "委托代扣" in refused(start, changes={"WITHHOLD_PROVIDER": "wechat"})


def test_wechat_pay_serves_only_the_wechat_channel(start):
    message = refused(start, changes={"PAYMENT_CHANNELS": {"alipay": "wechat", "wechat": "wechat"}})
    assert "PAYMENT_CHANNELS['alipay']: provider 'wechat' serves only ['wechat']" in message


def test_unionpay_is_not_served_by_wechat_pay_nor_by_an_absent_sandbox(start):
    message = refused(start, changes={"PAYMENT_CHANNELS": {"wechat": "wechat", "unionpay": "wechat"}})
    assert "PAYMENT_CHANNELS['unionpay']: provider 'wechat' serves only ['wechat']" in message
    # A live pilot (no sandbox) that keeps the default 云闪付 channel is told it has no provider.
    live = {
        "SANDBOX_ENABLED": False,
        "PAYMENT_CHANNELS": {"wechat": "wechat", "unionpay": "sandbox"},
        "WITHHOLD_PROVIDER": None,
    }
    assert "not configured: {'sandbox'}" in refused(start, changes=live)
    assert start(
        changes={"SANDBOX_ENABLED": False, "PAYMENT_CHANNELS": {"wechat": "wechat"}, "WITHHOLD_PROVIDER": None}
    )


def test_keys_never_reach_the_log(client, world, wechat_oauth, wechat_pay, caplog):
    import logging

    from tests.support.journeys import choose
    from tests.support.wechat_steps import bound_and_signed_in, go_pay, method_page, post_notify

    caplog.set_level(logging.DEBUG)
    bound_and_signed_in(client, wechat_oauth, "王芳")
    number = go_pay(client, method_page(client, choose(client, "medical"))).location.split("/")[-1]
    wechat_pay.pay(number)
    post_notify(client, wechat_pay, number, bad_signature=True)
    post_notify(client, wechat_pay, number)
    private = Keys.pem_private(start_keys(client)).splitlines()[1]  # a line of our merchant key
    for secret in (APIV3_KEY, APPSECRET, private, "PRIVATE KEY"):
        assert secret not in caplog.text


def start_keys(client):
    return client.application.extensions["sbweb.providers"]["wechat"]._pay._core._private_key

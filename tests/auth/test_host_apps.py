"""The host app a page is opened in, from its user agent: the tax bureau's apps (贵州税务, 税税通)
from configuration (TAX_APP_HOSTS) — their name shown, no 授权 there, only their channels and
in their order — and 云闪付, which offers its own first. A bad TAX_APP_HOSTS stops the start."""

import pytest

from sbweb import create_app
from sbweb.config import from_environment
from tests.conftest import _base_config
from tests.support import form_values, identity_of
from tests.support.journeys import choose, order, order_no_of, sandbox_pay, sign_in

PHONE = (
    "Mozilla/5.0 (Linux; Android 13; V2219A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0 Mobile Safari/537.36"
)
TAX_APPS = [
    pytest.param(f"{PHONE} GZTaxApp/3.2.1", "gztax", "贵州税务", id="贵州税务"),
    pytest.param(f"{PHONE} SSTApp/1.8.0", "sst", "税税通", id="税税通"),
]
UNIONPAY_UA = f"{PHONE} (com.unionpay.chsp) (cordova 7.0.0) (updebug 0) (version 1010) (UnionPay/1.0 CloudPay)"


def opened_in(client, user_agent):
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    return client


def app_client_in(client, user_agent):
    """Another resident's phone, on the same app."""
    return opened_in(client.application.test_client(), user_agent)


def channels_of(method) -> list[tuple[str, bool]]:
    """The channels on 选择缴款方式 in page order: (code, offered)."""
    return [(i["value"], not i.has_attr("disabled")) for i in method.soup.select("main input[name=channel]")]


def method_page(client, name="王芳"):
    sign_in(client, name)
    method = client.submit(choose(client, "medical"))
    assert method.h1 == "选择缴款方式", method.text
    return method


@pytest.mark.parametrize(("user_agent", "key", "name"), TAX_APPS)
def test_in_a_tax_app_the_resident_types_her_details_and_pays_with_its_channels(client, world, user_agent, key, name):
    opened_in(client, user_agent)
    # No 授权 in a tax app: straight to 证件信息 (the lookup level is all paying needs).
    response = client.get("/auth/?next=/selfpay/")
    assert response.status_code == 303 and response.location.startswith("/auth/manual")
    method = method_page(client)
    assert identity_of(client)["host"] == key and identity_of(client)["level"] == "lookup"
    assert channels_of(method) == [("unionpay", True), ("alipay", True), ("wechat", False)]
    assert f"在{name}中无法使用此方式" in method.text

    cashier = client.post(
        method.url,
        data={**{k: v[0] for k, v in form_values(method.form()).items()}, "channel": "unionpay"},
        follow_redirects=False,
    )
    assert cashier.status_code == 303
    page = client.page(cashier.location, follow=False)
    page = client.submit(page, selector="main form[data-provider-form]")
    result = sandbox_pay(client, page)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    with client.application.app_context():
        paid = order(order_no_of(result))
        assert (paid.state, paid.channel) == ("settled", "unionpay")


@pytest.mark.parametrize(("user_agent", "key", "name"), TAX_APPS)
def test_a_tax_app_has_no_host_sign_in_even_in_the_sandbox(client, world, user_agent, key, name):
    opened_in(client, user_agent)
    page = client.page("/auth/?next=/records/&need=verified")
    assert page.h1 == "授权"
    assert "同意授权" not in page.text and "沙箱：模拟宿主应用" not in page.text
    assert "获取验证码" in page.text  # the mailed code still verifies


def test_the_tax_app_is_named_in_the_sign_in_history(client, world):
    sign_in(app_client_in(client, TAX_APPS[0].values[0]), "王芳")
    verified = client
    sign_in(verified, "王芳", verified=True)
    history = verified.page("/auth/sign-ins")
    assert any("贵州税务" in row.get_text() for row in history.soup.select("main .cell-sub"))


@pytest.mark.parametrize(
    "app",
    [
        {
            "TAX_APP_HOSTS": [
                {"key": "qtax", "name": "青岛税务", "user_agent": r"QDTax/\d", "channels": ["wechat", "alipay"]}
            ]
        }
    ],
    indirect=True,
)
def test_the_bureau_configures_its_own_app_and_its_order(client, world):
    method = method_page(opened_in(client, f"{PHONE} QDTax/2"))
    assert identity_of(client)["host"] == "qtax"
    assert channels_of(method) == [("wechat", True), ("alipay", True), ("unionpay", False)]
    assert "在青岛税务中无法使用此方式" in method.text
    # The defaults are replaced, not added to: 贵州税务's token is a plain browser here.
    other = app_client_in(client, f"{PHONE} GZTaxApp/3.2.1")
    assert channels_of(method_page(other)) == [("alipay", True), ("wechat", True), ("unionpay", True)]


def test_inside_unionpay_its_own_channel_comes_first(client, world):
    method = method_page(opened_in(client, UNIONPAY_UA))
    assert identity_of(client)["host"] == "unionpay"
    assert channels_of(method) == [("unionpay", True), ("alipay", False), ("wechat", False)]
    assert "在云闪付中无法使用此方式" in method.text
    assert method.soup.select_one("#channel-unionpay").has_attr("checked")  # the only one: chosen


def test_a_plain_browser_keeps_the_usual_order(client, world):
    assert channels_of(method_page(client)) == [("alipay", True), ("wechat", True), ("unionpay", True)]


GOOD = {"key": "gztax", "name": "贵州税务", "user_agent": r"GZTaxApp/", "channels": ["unionpay", "alipay"]}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        pytest.param({**GOOD, "user_agent": r"GZTaxApp/(\d"}, "is not a regular expression", id="bad-regex"),
        pytest.param({**GOOD, "channels": ["unionpay", "cash"]}, "channels must list", id="unknown-channel"),
        pytest.param({**GOOD, "channels": []}, "channels must list", id="no-channel"),
        pytest.param({**GOOD, "key": "wechat"}, "is taken by another host", id="builtin-key"),
        pytest.param({**GOOD, "key": "贵州"}, "key must be", id="bad-key"),
        pytest.param({**GOOD, "name": " "}, "name must be", id="no-name"),
        pytest.param({"key": "gztax"}, "expected a dict with key", id="missing"),
    ],
)
def test_a_bad_tax_app_entry_refuses_to_start(tmp_path, key_dir, entry, says):
    config = _base_config(tmp_path, key_dir, "sqlite://") | {"TAX_APP_HOSTS": [entry]}
    with pytest.raises(RuntimeError) as raised:
        create_app(config)
    assert str(raised.value).startswith("TAX_APP_HOSTS[0]: ") and says in str(raised.value)


def test_two_apps_may_not_share_a_key(tmp_path, key_dir):
    config = _base_config(tmp_path, key_dir, "sqlite://") | {"TAX_APP_HOSTS": [GOOD, {**GOOD, "name": "别名"}]}
    with pytest.raises(RuntimeError, match=r"TAX_APP_HOSTS\[1\]: key 'gztax' is taken"):
        create_app(config)


def test_the_environment_sets_the_apps_as_json(monkeypatch):
    monkeypatch.setenv(
        "SBWEB_TAX_APP_HOSTS", '[{"key": "sst", "name": "税税通", "user_agent": "SST/", "channels": ["alipay"]}]'
    )
    assert from_environment()["TAX_APP_HOSTS"] == [
        {"key": "sst", "name": "税税通", "user_agent": "SST/", "channels": ["alipay"]}
    ]

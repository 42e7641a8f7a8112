"""Every app in these tests is configured for WeChat Pay and WeChat sign-in against the fakes."""

import pytest

from tests.support.wechat_fixtures import wechat_config, wechat_keys, wechat_oauth, wechat_pay  # noqa: F401


@pytest.fixture
def app_config(wechat_config):  # noqa: F811
    return wechat_config

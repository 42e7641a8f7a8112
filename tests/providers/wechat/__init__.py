"""WeChat Pay and WeChat sign-in (sbweb/payments/wechat.py, sbweb/identity/hosts/): every app here is
configured for the fakes (conftest.py)."""

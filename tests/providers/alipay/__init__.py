"""The Alipay adapter (sbweb/payments/alipay.py, sbweb/hostauth/): payments, sign-in, signatures, the bill, settings."""

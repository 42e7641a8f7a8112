"""The Alipay adapter (sbweb/payments/alipay.py, sbweb/identity/hosts/): payments, sign-in, signatures,
the bill, settings."""

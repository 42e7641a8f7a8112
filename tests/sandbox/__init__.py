"""The sandbox provider (sbweb/views/sandbox.py, sbweb/payments/sandbox.py) as a real Alipay client sees it."""

"""Error pages (sbweb/views/errors.py): 系统繁忙 with a reference, 4xx in Chinese, what a resident sees
when the app protects itself."""

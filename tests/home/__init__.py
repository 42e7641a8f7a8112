"""首页 (sbweb/views/home.py) and the 大字 (长辈版) switch."""

"""缴费记录 (sbweb/views/records.py)."""

"""涉费查询 (sbweb/views/queries.py)."""

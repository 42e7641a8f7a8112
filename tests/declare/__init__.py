"""缴费申报 (sbweb/views/declare.py): the four flows, their rules, 暂按上年度标准."""

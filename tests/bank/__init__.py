"""银行缴费协议 (sbweb/views/bank.py): accounts, agreements, 批扣 / 自动缴 and their consent."""

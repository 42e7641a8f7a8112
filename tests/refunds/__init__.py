"""退费申请 (sbweb/views/refunds.py): applications, refunds by item, what a refund reopens."""

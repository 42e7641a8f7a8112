"""The back office (sbweb/views/admin/): staff sign-in, refund review, import, 对账, 运行状态, the
audit log's words, tax offices."""

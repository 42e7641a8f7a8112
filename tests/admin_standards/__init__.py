"""缴费标准 (sbweb/views/admin/standards.py, `flask standards`, sbweb/services/standards.py): editing,
the CLI, the arithmetic."""

"""The operator's side (sbweb/views/ops.py and the CLI): /healthz, /readyz, /metrics, jobs, logs,
backups, migrations, the ledger check, the dependency audit."""

"""Scale and faults: several processes, a reverse proxy in front, a busy, restarted or vanished
database, Redis down, live migrations, file modes."""

"""What no one journey owns: every route and every page (sbweb/__init__.py, htmx.py, assets.py,
money.py, logging, rate limits): bad input and fuzzing over all routes, one round trip, static
files, headers, focus after swaps, the seeds' words."""

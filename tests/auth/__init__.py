"""授权 (sbweb/views/auth.py): host sign-in, the manual lookup and its throttle, sessions, identity levels, 证件号码."""

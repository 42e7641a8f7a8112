"""The pilot's back office (/admin): staff sign in with a password (hashed; locked after
repeated wrong passwords) into a staff session of their own (sbweb.staff_auth: kept on the
server, apart from the residents'), see and end their sessions, review refund applications, and
read the audit log. Desktop width, plain HTML forms; every POST carries the CSRF token.

One area a module, each adding its routes to the one blueprint (blueprint.py); they are all
imported here, the one place, so `bp` is complete once this package is."""

from sbweb.views.admin import (  # noqa: F401  (each adds its routes to bp)
    api_clients,
    imports,
    overview,
    reconciliation,
    refunds,
    settlements,
    staff,
    standards,
    tax_offices,
    webhooks,
)
from sbweb.views.admin.blueprint import bp

__all__ = ["bp"]

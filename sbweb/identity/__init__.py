"""Who the resident is: everything about signing in, in one package, and this one surface for
the views (`from sbweb import identity`, then `identity.person_id()`, `identity.sign_in(…)`).

Inside, one module per part (other code below the views may use them directly):

- `sessions`: who is signed in on this request, at which level (a server-side login session
  whose token the cookie holds); signing in and out; `safe_next`.
- `access`: the levels and the rule table — what each level may open and do, checked before
  every request.
- `lookup`, `people`, `throttle`: 证件类型 + 证件号码 + 姓名 → the person, throttled per number
  and per client address.
- `verification`: the one-time code mailed to the contact on file (验证码 → verified).
- `hosts/`: host-app sign-in (同意授权: Alipay, WeChat, the sandbox's), the host app a page is
  opened in (`hosts.apps`), and binding a host user to a person.
- `binding`: a host user waiting, in the cookie's session, to be bound by a code.
- `login_sessions`: the server-side store of sign-ins, residents' and staff's; `captcha`: the
  验证码 images and questions, held per login session.

The ID-number rules (validation, masking, redaction) are `sbweb.id_numbers`: models, logs and
PDFs use them, and the models are below this package.
"""

from flask import Flask

from sbweb.identity import access, captcha, login_sessions, sessions
from sbweb.identity.access import RESIDENT_LEVELS
from sbweb.identity.access import what as action_words
from sbweb.identity.binding import (
    bind_pending,
    forget_binding,
    pending_binding,
    remember_unbound,
    sign_in_looked_up,
)
from sbweb.identity.hosts import SANDBOX as HOST_SANDBOX
from sbweb.identity.hosts import HostIdentity, HostSignInError, init_host_signin
from sbweb.identity.hosts import bind as bind_host_user
from sbweb.identity.hosts import for_host as host_signin_for
from sbweb.identity.hosts import person_for as host_person
from sbweb.identity.hosts import providers as host_signins
from sbweb.identity.hosts.apps import HOST_LABELS, channel_choices, detect_host, host_label, is_tax_app
from sbweb.identity.lookup import NO_MATCH, number_locked, silent_lookup, throttled_lookup
from sbweb.identity.sessions import (
    current_login,
    current_person,
    host,
    host_subject,
    is_verified,
    level,
    may_see_order,
    may_see_order_no,
    person_id,
    remember_order,
    remember_order_within,
    remembered,
    safe_next,
    sign_in,
    sign_out,
)
from sbweb.identity.verification import NoContact, VerificationError, check_code, masked_email, send_blind, send_code

__all__ = [
    # who is signed in, at which level
    "current_login",
    "current_person",
    "person_id",
    "level",
    "is_verified",
    "host",
    "host_subject",
    "sign_in",
    "sign_out",
    "remember_order",
    "remember_order_within",
    "remembered",
    "may_see_order",
    "may_see_order_no",
    "safe_next",
    # the levels and the rule table
    "RESIDENT_LEVELS",
    "action_words",
    "access",
    # 证件信息 → the person
    "throttled_lookup",
    "number_locked",
    "silent_lookup",
    "NO_MATCH",
    # mailed codes
    "send_code",
    "send_blind",
    "check_code",
    "masked_email",
    "VerificationError",
    "NoContact",
    # host apps and their sign-in
    "HOST_LABELS",
    "host_label",
    "is_tax_app",
    "detect_host",
    "channel_choices",
    "HostIdentity",
    "HostSignInError",
    "HOST_SANDBOX",
    "host_signins",
    "host_signin_for",
    "host_person",
    "bind_host_user",
    "init_host_signin",
    # a host user waiting to be bound
    "pending_binding",
    "remember_unbound",
    "forget_binding",
    "sign_in_looked_up",
    "bind_pending",
    # the stores: sign-ins (the back office lists and ends staff's), 验证码 challenges
    "login_sessions",
    "captcha",
    "init_app",
]


def init_app(app: Flask) -> None:
    """Before each request: the session is loaded first, then the access table is checked
    against its level."""
    sessions.init_app(app)
    access.init_app(app)

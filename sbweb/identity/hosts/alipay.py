"""支付宝 sign-in (授权): the resident agrees on Alipay's authorization page, Alipay sends the
browser back with an auth_code, and we ask Alipay who that is — alipay.system.oauth.token
(code → access token and user id), then alipay.user.info.share (the 实名 data: 证件类型,
证件号码, 姓名). Calls go through the same SDK client and transports as the payments.

Alipay shares 证件号码 and 姓名 only with apps granted those fields (会员信息 with 实名 data);
without them, or for a 证件 we do not take, the identity is the Alipay user id alone, which
counts once it is bound to a person (sbweb.identity.hosts.person_for).
"""

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from sbweb import id_numbers
from sbweb.identity.hosts.apps import HOST_LABELS
from sbweb.identity.hosts.base import HostIdentity, HostSignInError
from sbweb.payments import ProviderError
from sbweb.payments.alipay import AlipayClient, ConfigurationError, read_app

AUTHORIZE_URL = "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm"
# alipay.user.info.share's cert_type → our 证件类型 (sbweb.id_numbers). Alipay's own names in the
# comments; 回乡证 and 台胞证 are the everyday names of the two 通行证.
CERT_TYPES = {
    "0": id_numbers.RESIDENT_CARD,  # 身份证
    "4": "516",  # 回乡证
    "11": "516",  # 港澳居民来往内地通行证
    "8": "511",  # 台胞证
    "12": "511",  # 台湾居民来往大陆通行证
    "13": "237",  # 台湾居民居住证
    "14": "237",  # 港澳居民居住证
    "16": "208",  # 外国人永久居住证
}


class AlipaySignIn:
    def __init__(self, *, name: str, host: str, client: AlipayClient, authorize_url: str = AUTHORIZE_URL):
        self.name = name
        self.host = host
        self.client = client
        self.app_id = client.appid
        self._authorize_url = authorize_url

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode({"app_id": self.app_id, "scope": "auth_user", "redirect_uri": redirect_uri, "state": state})
        return f"{self._authorize_url}?{query}"

    def _ask(self, method: str, **params) -> dict:
        try:
            return self.client.call(method, **params)
        except ProviderError as exc:
            raise HostSignInError(str(exc)) from None

    def identify(self, args: Mapping[str, str]) -> HostIdentity:
        """Who Alipay says came back with this callback (auth_code, app_id, state, scope)."""
        code = (args.get("auth_code") or "").strip()
        if not code or args.get("error"):
            raise HostSignInError("no auth_code: the resident did not agree")
        if args.get("app_id") and args.get("app_id") != self.app_id:
            raise HostSignInError("a callback for another app")
        token = self._ask("alipay.system.oauth.token", grant_type="authorization_code", code=code[:128])
        access, subject = token.get("access_token"), token.get("user_id") or token.get("open_id")
        if token.get("code") not in (None, "10000") or not access or not subject:
            raise HostSignInError(f"alipay.system.oauth.token: {token.get('sub_code') or 'no token'}")
        info = self._ask("alipay.user.info.share", auth_token=access)
        if info.get("code") != "10000":
            raise HostSignInError(f"alipay.user.info.share: {info.get('sub_code') or info.get('code')}")
        if (info.get("user_id") or info.get("open_id") or subject) != subject:
            raise HostSignInError("alipay.user.info.share answered for another user")
        # is_certified is only sent to apps approved before 2019-12-24; without it, 实名 data is
        # only shared for certified users.
        number, name = info.get("cert_no"), info.get("user_name")
        if info.get("is_certified") == "F" or not number or not name:
            raise HostSignInError("the Alipay user is not 实名认证 (or the app may not read it)")
        id_type = CERT_TYPES.get(str(info.get("cert_type")))
        if id_type is None:
            return HostIdentity(provider=self.name, subject=subject)
        try:
            number = id_numbers.validate(id_type, str(number))
        except id_numbers.InvalidIdNumber:
            return HostIdentity(provider=self.name, subject=subject)
        return HostIdentity(provider=self.name, subject=subject, id_type=id_type, id_number=number, name=str(name))


SETTINGS = {
    "kind",
    "app_id",
    "gateway",
    "app_private_key_file",
    "alipay_public_key_file",
    "timeout",
    "authorize_url",
    "host",
}


def from_settings(name: str, settings: Mapping, app) -> AlipaySignIn:
    """HOST_SIGNIN[name] of kind "alipay": the app's ids and keys as for payments (see
    sbweb.payments.alipay.provider_from_settings; seller_id is not needed), and optionally
    "authorize_url" (default Alipay's) and "host" (default "alipay": 同意授权 goes through it
    when the page is open inside the Alipay app)."""
    where = f"HOST_SIGNIN[{name!r}]"
    account = read_app(where, settings, app.instance_path, allowed=SETTINGS)
    authorize_url = settings.get("authorize_url") or AUTHORIZE_URL
    parts = urlsplit(str(authorize_url))
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
        raise ConfigurationError(f"{where}: authorize_url must be an https URL (default {AUTHORIZE_URL})")
    host = settings.get("host", "alipay")
    if host not in HOST_LABELS:
        raise ConfigurationError(f"{where}: host must be one of {sorted(HOST_LABELS)}, not {host!r}")
    return AlipaySignIn(name=name, host=host, client=account.client(), authorize_url=str(authorize_url))

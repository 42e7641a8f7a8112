"""What a host sign-in says (HostIdentity) or raises (HostSignInError): the types the providers
(sbweb.identity.hosts.alipay, .wechat, the sandbox's) build on, apart from the package's registry of
providers, which builds the sandbox's and so must not be imported by them."""

from dataclasses import dataclass


class HostSignInError(Exception):
    """The host did not vouch for anyone: the resident refused, the code is stale or
    forged, or the host could not be reached. `str()` is for the log, not the resident."""


@dataclass(frozen=True)
class HostIdentity:
    provider: str  # the configured name, e.g. "alipay"
    subject: str  # the host's stable id for its user (Alipay user_id, WeChat openid)
    # The person in law, when the host vouches for it (Alipay 实名); else None.
    id_type: str | None = None
    id_number: str | None = None
    name: str | None = None
    unionid: str | None = None  # WeChat's id for the user across the 公众号s of one owner
    nickname: str | None = None  # what the host calls its user, when it says (snsapi_userinfo)

    @property
    def names_person(self) -> bool:
        return bool(self.id_type and self.id_number and self.name)

    def __repr__(self) -> str:  # never the number: reprs end up in logs
        return f"<HostIdentity {self.provider} {self.subject[:6]}… {'实名' if self.names_person else ''}>"

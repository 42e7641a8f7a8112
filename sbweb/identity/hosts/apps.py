"""The host app a page is opened in, and the payment channels it allows.

Inside WeChat, Alipay pages are blocked and WeChat Pay is the only way; inside Alipay, only
Alipay; UnionPay's 云闪付 offers its own. A plain browser may use any configured channel.

The tax bureau's own apps (贵州税务, 税税通 …) are hosts too, but from configuration
(TAX_APP_HOSTS): their user-agent tokens, names and channels are the bureau's to set. They
have no sign-in of their own (no 授权): a resident there types 证件信息 (the lookup level),
which is all that paying 城乡居民 and 灵活就业 contributions needs."""

import re
from dataclasses import dataclass

from flask import current_app

HOST_LABELS = {"alipay": "支付宝", "wechat": "微信", "unionpay": "云闪付", "browser": "浏览器"}
CHANNEL_ORDER = ("alipay", "wechat", "unionpay")
# The channels each host allows, the one it prefers first (云闪付 offers its own first).
HOST_CHANNELS = {
    "alipay": ("alipay",),
    "wechat": ("wechat",),
    "unionpay": ("unionpay",),
    "browser": CHANNEL_ORDER,
}
# The login session keeps the host in a String(20) column.
KEY_LENGTH = 20
EXTENSION = "sbweb.tax_app_hosts"


@dataclass(frozen=True)
class TaxAppHost:
    key: str
    name: str
    user_agent: re.Pattern
    channels: tuple[str, ...]


def init_tax_app_hosts(app) -> None:
    """Check TAX_APP_HOSTS once, at start: a bad entry stops the app with what to fix, rather
    than a resident in that app meeting the wrong channels."""
    hosts = []
    for index, entry in enumerate(app.config["TAX_APP_HOSTS"]):
        hosts.append(_tax_app_host(f"TAX_APP_HOSTS[{index}]", entry, {h.key for h in hosts}))
    app.extensions[EXTENSION] = tuple(hosts)


def _tax_app_host(where: str, entry, taken: set[str]) -> TaxAppHost:
    if not isinstance(entry, dict) or not {"key", "name", "user_agent", "channels"} <= entry.keys():
        raise RuntimeError(f"{where}: expected a dict with key, name, user_agent and channels, not {entry!r}")
    key, channels = entry["key"], entry["channels"]
    if not isinstance(key, str) or not re.fullmatch(rf"[a-z0-9_-]{{1,{KEY_LENGTH}}}", key):
        raise RuntimeError(f"{where}: key must be 1–{KEY_LENGTH} of a-z 0-9 _ -, not {key!r}")
    if key in HOST_LABELS or key in taken:
        raise RuntimeError(f"{where}: key {key!r} is taken by another host")
    if not isinstance(entry["name"], str) or not entry["name"].strip():
        raise RuntimeError(f"{where}: name must be the app's name as residents know it (e.g. 贵州税务)")
    try:
        pattern = re.compile(entry["user_agent"])
    except (re.error, TypeError) as exc:
        raise RuntimeError(f"{where}: user_agent {entry['user_agent']!r} is not a regular expression: {exc}") from None
    unknown = [c for c in channels if c not in CHANNEL_ORDER] if isinstance(channels, (list, tuple)) else [channels]
    if unknown or not channels or len(set(channels)) != len(channels):
        raise RuntimeError(
            f"{where}: channels must list, once each and in the order offered, some of {list(CHANNEL_ORDER)}; "
            f"not {channels!r}"
        )
    return TaxAppHost(key, entry["name"].strip(), pattern, tuple(channels))


def tax_app_hosts() -> tuple[TaxAppHost, ...]:
    return current_app.extensions.get(EXTENSION, ())


def _tax_app(host: str) -> TaxAppHost | None:
    return next((h for h in tax_app_hosts() if h.key == host), None)


def is_tax_app(host: str | None) -> bool:
    """A configured tax app: no 授权 there, the resident types 证件信息."""
    return _tax_app(host) is not None


def detect_host(user_agent: str) -> str:
    ua = user_agent or ""
    # The bureau's configured apps first: their tokens are the more specific (such an app may
    # embed a payment SDK whose token it also sends).
    for tax_app in tax_app_hosts():
        if tax_app.user_agent.search(ua):
            return tax_app.key
    if "MicroMessenger" in ua:
        return "wechat"
    if "AlipayClient" in ua or "AliApp(AP" in ua:
        return "alipay"
    if "UnionPay" in ua or "com.unionpay" in ua:
        return "unionpay"
    return "browser"


def host_label(host: str | None) -> str:
    """The host's name as residents know it (支付宝, 贵州税务 …)."""
    tax_app = _tax_app(host)
    return tax_app.name if tax_app is not None else HOST_LABELS.get(host or "browser", HOST_LABELS["browser"])


def allowed_channels(host: str) -> tuple[str, ...]:
    tax_app = _tax_app(host)
    if tax_app is not None:
        return tax_app.channels
    return HOST_CHANNELS.get(host, HOST_CHANNELS["browser"])


@dataclass(frozen=True)
class ChannelChoice:
    code: str
    available: bool
    reason: str = ""


def channel_choices(host: str, configured: dict) -> list[ChannelChoice]:
    """The configured channels: those the host allows first, in its order, then the others
    greyed out with why."""
    allowed = allowed_channels(host)
    choices = [ChannelChoice(code, True) for code in allowed if code in configured]
    why = f"在{host_label(host)}中无法使用此方式"
    choices += [ChannelChoice(code, False, why) for code in CHANNEL_ORDER if code in configured and code not in allowed]
    return choices

"""The host app a page is opened in, and the payment channels it allows.

Inside WeChat, Alipay pages are blocked and WeChat Pay is the only way; inside Alipay, only
Alipay; UnionPay's 云闪付 offers its own. A plain browser may use any configured channel."""

from dataclasses import dataclass

HOST_LABELS = {"alipay": "支付宝", "wechat": "微信", "unionpay": "云闪付", "browser": "浏览器"}
CHANNEL_ORDER = ("alipay", "wechat", "unionpay")
HOST_CHANNELS = {
    "alipay": {"alipay"},
    "wechat": {"wechat"},
    "unionpay": {"unionpay"},
    "browser": set(CHANNEL_ORDER),
}


def detect_host(user_agent: str) -> str:
    ua = user_agent or ""
    if "MicroMessenger" in ua:
        return "wechat"
    if "AlipayClient" in ua or "AliApp(AP" in ua:
        return "alipay"
    if "UnionPay" in ua or "com.unionpay" in ua:
        return "unionpay"
    return "browser"


@dataclass(frozen=True)
class ChannelChoice:
    code: str
    available: bool
    reason: str = ""


def channel_choices(host: str, configured: dict) -> list[ChannelChoice]:
    allowed = HOST_CHANNELS.get(host, HOST_CHANNELS["browser"])
    choices = []
    for code in CHANNEL_ORDER:
        if code not in configured:
            continue
        if code in allowed:
            choices.append(ChannelChoice(code, True))
        else:
            choices.append(ChannelChoice(code, False, f"在{HOST_LABELS[host]}中无法使用此方式"))
    return choices

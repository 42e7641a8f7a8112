"""The 证件类型 + 证件号码 + 姓名 lookup every form with those fields goes through (拒绝授权, 证件信息
before a code, 添加被代缴人, 代缴 certificates and queries): throttled per number and per client
address, a wrong name and an unknown number answered alike."""

from flask import current_app, request

from sbweb.identity import throttle
from sbweb.identity.people import find_person

NO_MATCH = "证件号码与姓名不一致，或未查询到该人员，请核对后重新输入"
TOO_MANY = (
    "查询失败次数过多，请{minutes}分钟后再试。本人仍可通过「同意授权」（如支付宝、微信）"
    "或登记邮箱的验证码登录；如不确定登记的姓名，请联系参保地经办机构"
)


def _keys(form) -> dict[str, str]:
    return throttle.keys(form.id_type.data, form.id_number.data, request.remote_addr)


def throttled_lookup(form) -> tuple:
    """The person a validated form's 证件类型 + 证件号码 + 姓名 name: (person, 200), or (None, 422 /
    429) with the message on the form."""
    keys = _keys(form)
    if throttle.refused_by(keys):
        minutes = int(current_app.config["LOOKUP_WINDOW"].total_seconds() // 60)
        form.form_errors.append(TOO_MANY.format(minutes=minutes))
        return None, 429
    person = find_person(form.id_type.data, form.id_number.data, form.name.data)
    if person is None:
        throttle.record_failure(keys)
        form.form_errors.append(NO_MATCH)
        return None, 422
    return person, 200


def number_locked(form) -> bool:
    """The number's lookups are locked by wrong names (whoever typed them), while this client
    itself is not refused: the real person may still sign in by a code, which says nothing
    about whether the name matched."""
    return throttle.refused_by(_keys(form)) == "number"


def silent_lookup(form):
    """During a number's lock: the person, or None — never told to the browser. Every such try
    counts against this client whether the name matched or not (a count that moved only on
    wrong names would itself say which names were right)."""
    keys = _keys(form)
    throttle.record_failure({k: v for k, v in keys.items() if k == "client"})
    return find_person(form.id_type.data, form.id_number.data, form.name.data)

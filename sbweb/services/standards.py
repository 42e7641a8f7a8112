"""Contribution standards: when a region's payments pause, and how standards are loaded and
changed (validated, re-pricing the open dues they priced, settling what was collected
provisionally). Which one is in force and what a base or grade costs is sbweb.services.rates,
re-exported here; the declarations and the provisional settlement use that directly."""

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import bindparam, select

from sbweb.clock import FIRST_DAY, LAST_DAY, SHANGHAI, in_calendar
from sbweb.db import db
from sbweb.models import Declaration, Due, Region, Standard
from sbweb.money import MAX_FEN, fen_display, yuan_to_fen
from sbweb.services import provisional
from sbweb.services.declarations import price  # the one place a declaration is priced
from sbweb.services.rates import (
    base_range_text,
    collecting_standard,  # noqa: F401 (re-exported: sbweb.views.declare reads it here)
    percent,
    region_chain,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "standards.toml"
CATEGORIES = ("flexible", "resident")
_CLOCK = re.compile(r"\A([01][0-9]|2[0-3]):[0-5][0-9]\Z")


class StandardError(ValueError):
    """A standard that would not make sense; `problems` says every reason, in Chinese."""

    def __init__(self, problems: list[str]):
        super().__init__("；".join(problems))
        self.problems = problems


# -- reconciliation windows --------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    region: str
    starts: str
    ends: str

    @property
    def message(self) -> str:
        until = f"次日 {self.ends}" if self.starts > self.ends else self.ends
        return (
            f"{self.region}每日 {self.starts} 至 {until} 为系统对账时段，暂停缴费，"
            f"请于 {self.ends} 后再缴。已完成的支付不受影响。"
        )


def _in_window(now: str, starts: str, ends: str) -> bool:
    if starts <= ends:
        return starts <= now < ends
    return now >= starts or now < ends  # crosses midnight: 22:50–00:10


def pause_now(region_codes, now: dt.datetime) -> Pause | None:
    """The reconciliation window that pauses payments for any of these regions now (now is
    Asia/Shanghai), or None."""
    wanted = {c for code in region_codes for c in region_chain(code)}
    if not wanted:
        return None
    clock = now.strftime("%H:%M")
    for name, start, until in db.session.execute(_WINDOWS, {"codes": sorted(wanted)}):
        if start and until and _in_window(clock, start, until):
            return Pause(name, start, until)
    return None


# Every step from 缴费信息确认 to 去支付 asks it: built once (Core), with bind parameters.
_WINDOWS = (
    select(Region.__table__.c.name, Region.__table__.c.pause_from, Region.__table__.c.pause_until)
    .where(Region.__table__.c.code.in_(bindparam("codes", expanding=True)))
    .order_by(Region.__table__.c.code)
)


# -- loading and changing ----------------------------------------------------------------------


def _fen(value, label: str, problems: list[str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        fen = yuan_to_fen(str(value))
    except ValueError:
        problems.append(f"{label}不是有效金额：{value}")
        return None
    if fen <= 0:
        problems.append(f"{label}必须大于 0")
        return None
    if fen > MAX_FEN:
        problems.append(f"{label}过大：{value}")
        return None
    return fen


def _bp(value, label: str, problems: list[str], *, hundredths: bool = False) -> int | None:
    """'20' (percent) → 2000 bp; '0.05' (percent per day) → 5."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        problems.append(f"{label}不是有效百分比：{value}")
        return None
    bp = number * 100
    if bp != bp.to_integral_value() or bp < 0 or bp > 10000 or (not hundredths and bp == 0):
        problems.append(f"{label}应在 0 到 100 之间，最多两位小数：{value}")
        return None
    return int(bp)


def _date(value, label: str, problems: list[str]) -> dt.date | None:
    try:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        problems.append(f"{label}不是有效日期（YYYY-MM-DD）：{value}")
        return None
    if not in_calendar(day):  # 9999-12-31 would overflow the reminders' "a week before it closes"
        problems.append(f"{label}应在{FIRST_DAY}至{LAST_DAY}之间：{value}")
        return None
    return day


def parse_standard(spec: dict) -> dict:
    """A standard as the data file or the CLI writes it (yuan, percent, ISO dates) → column
    values, or StandardError listing everything wrong with it."""
    problems: list[str] = []
    region = str(spec.get("region", ""))
    if not re.fullmatch(r"[1-9]\d{5}", region):
        problems.append(f"地区代码应为 6 位数字：{region}")
    year = _year(spec.get("year"), problems)
    category = spec.get("category")
    if category not in CATEGORIES:
        problems.append(f"人员类别应为 flexible 或 resident：{category}")
    values = {
        "region_code": region,
        "year": year,
        "category": category,
        "opens": _date(spec.get("opens"), "征收期开始日期", problems),
        "closes": _date(spec.get("closes"), "征收期结束日期", problems),
        "late_fee_bp_per_day": _bp(spec.get("late_fee", "0"), "滞纳金比例", problems, hundredths=True) or 0,
        "base_min_fen": None,
        "base_max_fen": None,
        "pension_rate_bp": None,
        "medical_rate_bp": None,
        "grades_fen": None,
        "medical_fen": None,
    }
    if values["opens"] and values["closes"] and values["opens"] > values["closes"]:
        problems.append("征收期开始日期晚于结束日期")
    if category == "flexible":
        values.update(_flexible_values(spec, problems))
    elif category == "resident":
        values.update(_resident_values(spec, problems))
    if problems:
        raise StandardError(problems)
    return values


def _year(value, problems: list[str]) -> int | None:
    try:
        year = int(value)
        if not 2000 <= year <= 2100:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(f"年度无效：{value}")
        return None
    return year


def _flexible_values(spec: dict, problems: list[str]) -> dict:
    """灵活就业: the base's range and the two rates, each of them required."""
    values = {
        "base_min_fen": _fen(spec.get("base_min"), "缴费基数下限", problems),
        "base_max_fen": _fen(spec.get("base_max"), "缴费基数上限", problems),
        "pension_rate_bp": _bp(spec.get("pension_rate"), "养老保险费率", problems),
        "medical_rate_bp": _bp(spec.get("medical_rate"), "医疗保险费率", problems),
    }
    for key, label in (
        ("base_min_fen", "缴费基数下限"),
        ("base_max_fen", "缴费基数上限"),
        ("pension_rate_bp", "养老保险费率"),
        ("medical_rate_bp", "医疗保险费率"),
    ):
        if values[key] is None and not any(p.startswith(label) for p in problems):
            problems.append(f"灵活就业标准缺少{label}")
    if values["base_min_fen"] and values["base_max_fen"] and values["base_min_fen"] >= values["base_max_fen"]:
        problems.append("缴费基数下限应小于上限")
    return values


def _resident_values(spec: dict, problems: list[str]) -> dict:
    """城乡居民: the grades (a list, or one text with commas) and the medical insurance's fee."""
    values = {"grades_fen": None}
    grades = spec.get("grades") or []
    if isinstance(grades, str):
        grades = [g for g in grades.replace("，", ",").split(",") if g.strip()]
    fens = [_fen(g, "缴费档次", problems) for g in grades]
    if not grades:
        problems.append("城乡居民标准缺少缴费档次")
    elif None not in fens:
        if len(set(fens)) != len(fens):
            problems.append("缴费档次有重复")
        values["grades_fen"] = sorted(set(fens))
    values["medical_fen"] = _fen(spec.get("medical"), "城乡居民医疗保险缴费标准", problems)
    if values["medical_fen"] is None and not any(p.startswith("城乡居民医疗") for p in problems):
        problems.append("城乡居民标准缺少医疗保险缴费标准")
    return values


def save_standard(values: dict, settlement=None) -> tuple[Standard, bool]:
    """Create or change the standard for values' region × year × category. A change bumps its
    revision and re-prices the open dues it priced that no order is paying (their pages turn
    stale). Either way, what was collected provisionally for its year (暂按上年度标准) is settled
    on it, 多退少补 (sbweb/services/provisional.py); `settlement`, if given, adds up what that did.
    Returns (standard, changed). Call inside a write transaction."""
    key = {k: values[k] for k in ("region_code", "year", "category")}
    standard = db.session.scalar(select(Standard).filter_by(**key))
    if standard is None:
        standard = Standard(**values)
        db.session.add(standard)
        db.session.flush()
        changed = True
    else:
        changed = {k: v for k, v in values.items() if getattr(standard, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(standard, k, v)
            standard.revision += 1
            db.session.flush()
            reprice(standard)
    done = provisional.settle(standard)
    if settlement is not None:
        settlement.add(done)
    return standard, bool(changed)


def reprice(standard: Standard) -> int:
    """Recompute the valid declarations of this standard whose due is still open and not being
    paid; returns how many dues changed."""
    from sbweb.services.registry import RegistryError, change_due_amount

    changed = 0
    rows = db.session.scalars(
        select(Declaration)
        .join(Due, Due.id == Declaration.due_id)
        .where(
            Declaration.standard_id == standard.id,
            Declaration.state == "valid",
            Due.state == "open",
            Due.order_id.is_(None),
        )
    )
    for declaration in rows:
        declared_on = declaration.declared_at.astimezone(SHANGHAI).date()
        contribution, late = price(declaration, standard, declared_on)
        if contribution + late == declaration.amount_fen:
            continue
        try:
            change_due_amount(declaration.due, contribution + late, cause="缴费标准调整，重新计算")
        except RegistryError:
            continue  # an order took it meanwhile: it pays the figure its payer confirmed
        declaration.due.late_fee_fen = late
        declaration.amount_fen, declaration.late_fee_fen = contribution + late, late
        changed += 1
    return changed


def save_region(code: str, name: str, pause: str | None) -> Region:
    problems = []
    if not re.fullmatch(r"[1-9]\d{5}", code or ""):
        problems.append(f"地区代码应为 6 位数字：{code}")
    starts = ends = None
    if pause:
        starts, _, ends = pause.partition("-")
        if not (_CLOCK.match(starts) and _CLOCK.match(ends)) or starts == ends:
            problems.append(f"对账时段应写作 HH:MM-HH:MM：{pause}")
    if problems:
        raise StandardError(problems)
    region = db.session.scalar(select(Region).filter_by(code=code))
    if region is None:
        region = Region(code=code, name=name)
        db.session.add(region)
    region.name = name or region.name
    region.pause_from, region.pause_until = starts, ends
    db.session.flush()
    return region


def load_file(path: Path = DATA, settlement=None) -> dict[str, int]:
    """Load (or update) the regions and standards of a data file. Every row is checked first;
    one bad row writes nothing (StandardError lists each, with its position). What was collected
    provisionally on a year now published is settled (added up in `settlement`, if given)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StandardError([f"无法读取标准文件：{exc}"]) from None
    parsed, problems = [], []
    for i, region in enumerate(data.get("regions", []), start=1):
        if not isinstance(region, dict) or not region.get("code") or not region.get("name"):
            problems.append(f"第 {i} 个地区缺少 code 或 name")
    for i, spec in enumerate(data.get("standards", []), start=1):
        try:
            parsed.append(parse_standard(spec))
        except StandardError as exc:
            problems += [f"第 {i} 条标准：{p}" for p in exc.problems]
    if problems:
        raise StandardError(problems)
    counts = {"regions": 0, "standards": 0, "changed": 0}
    for region in data.get("regions", []):
        save_region(str(region["code"]), region["name"], region.get("pause"))
        counts["regions"] += 1
    for values in parsed:
        _, changed = save_standard(values, settlement)
        counts["standards"] += 1
        counts["changed"] += int(changed)
    return counts


def region_names() -> dict[str, str]:
    """Each region's name by its code (贵州省 for 520000), for pages staff read."""
    return dict(db.session.execute(select(Region.code, Region.name)).all())


def terms(standard: Standard) -> str:
    """What the standard sets, in the words of the 缴费标准 page."""
    if standard.category == "flexible":
        body = (
            f"缴费基数 {base_range_text(standard)}；养老保险费率 {percent(standard.pension_rate_bp)}%，"
            f"医疗保险费率 {percent(standard.medical_rate_bp)}%"
        )
    else:
        grades = "、".join(fen_display(g) for g in standard.grades_fen or [])
        body = f"缴费档次 {grades}元；城乡居民医疗保险 {fen_display(standard.medical_fen)}元"
    late = f"；滞纳金 {percent(standard.late_fee_bp_per_day)}%/日" if standard.late_fee_bp_per_day else ""
    return body + late


def describe(standard: Standard) -> str:
    """One line for `flask standards list`."""
    head = f"{standard.region_code} {standard.year} {standard.category:<8} {standard.opens}~{standard.closes}"
    if standard.category == "flexible":
        body = (
            f"基数 {base_range_text(standard)} 养老 {percent(standard.pension_rate_bp)}% "
            f"医疗 {percent(standard.medical_rate_bp)}%"
        )
    else:
        grades = ",".join(str(g // 100) for g in standard.grades_fen or [])
        body = f"档次 {grades} 医疗 {fen_display(standard.medical_fen)}"
    late = f" 滞纳金 {percent(standard.late_fee_bp_per_day)}%/日" if standard.late_fee_bp_per_day else ""
    return f"{head} {body}{late} (rev {standard.revision})"

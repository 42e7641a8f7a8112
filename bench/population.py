"""Residents for the load and fault runs, made the way the app makes them: the demo loader's
standards and agencies, then `count` residents through sbweb.services.registry — each with one
flexible-employment pension enrollment and one or two monthly dues open today.

    DATABASE_URL=… python bench/population.py COUNT OUT.json

Writes [{"id_number", "name", "enrollment_no"}, …] to OUT.json. Reconciliation windows are
cleared (a run at 23:00 Shanghai would otherwise be refused 去支付 by design)."""

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from sbweb import create_app, demo  # noqa: E402
from sbweb.clock import shanghai_now  # noqa: E402
from sbweb.db import db, write_transaction  # noqa: E402
from sbweb.models import Agency, Region  # noqa: E402
from sbweb.services import registry, standards  # noqa: E402

AGENCY = "52010201"  # 贵阳市南明区社会保险事业局 (sbweb/demo/residents.toml)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
MONTHLY_FEN = 90080  # 4504.00 × 20 %: Guizhou's lowest flexible pension base and rate


def id_number(n: int) -> str:
    """A valid 居民身份证 number of 南明区 (520102): a birth date and sequence number per n."""
    birth = 19600101 + (n // 900) % 40 * 10000 + (n // 900 // 40) % 12 * 100 + (n // 900 // 480) % 28
    body = f"520102{birth:08d}{n % 900 + 100:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum's check ignores the last character


def make(count: int, today) -> list[dict]:
    rng = random.Random(20261201)
    people = []
    demo.load(today)
    with write_transaction():
        for region in db.session.scalars(select(Region)):
            standards.save_region(region.code, region.name, None)
        agency = db.session.scalar(select(Agency).filter_by(code=AGENCY))
        for n in range(count):
            name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
            person = registry.register_person("201", id_number(n), name)
            enrollment = registry.enroll(person, "flexible", "pension", agency, f"5201023{n:011d}")
            for back in range(1, rng.choice((2, 3))):
                period = demo.month(today, back)
                registry.add_due(
                    enrollment, kind="normal", period_start=period, period_end=period, amount_fen=MONTHLY_FEN
                )
            people.append(
                {"id_number": person.id_number, "name": person.name, "enrollment_no": enrollment.enrollment_no}
            )
    return people


def main() -> int:
    count, out = int(sys.argv[1]), Path(sys.argv[2])
    app = create_app()
    with app.app_context():
        people = make(count, shanghai_now().date())
    out.write_text(json.dumps(people, ensure_ascii=False))
    print(f"{len(people)} residents with open dues")
    return 0


if __name__ == "__main__":
    sys.exit(main())

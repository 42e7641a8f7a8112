"""What the UnionPay provider's cryptography costs per call, in-process CPU time (the minimum
over batches, steady on a shared machine): signing a 前台交易 form with the merchant key, and
verifying a notification (its signPubKeyCert parsed, the chain to the configured intermediate
and root checked, the signature verified). Keys are made by the test PKI (RSA 2048).

    .venv/bin/python bench/unionpay_bench.py [--batches 20] [--per-batch 50]
"""

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sbweb.payments.unionpay import Merchant, SigningKey  # noqa: E402
from tests.providers.unionpay.pki import PFX_PASSWORD, UnionPayPKI  # noqa: E402


def per_call(fn, batches: int, per_batch: int) -> float:
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for _ in range(per_batch):
            fn()
        best = min(best, (time.process_time() - start) / per_batch)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--per-batch", type=int, default=50)
    args = parser.parse_args()
    pki = UnionPayPKI.make()
    merchant = Merchant("898000000000001", SigningKey.from_pfx(pki.merchant_pfx, PFX_PASSWORD))
    trust = pki.authority.trust()
    now = dt.datetime.now(dt.UTC)
    notice = pki.unionpay_signs(
        {
            "version": "5.1.0",
            "merId": "898000000000001",
            "orderId": "SB202612070000000042",
            "txnType": "01",
            "respCode": "00",
            "txnAmt": "12345",
            "queryId": "7202612071630050001",
        }
    )

    def sign():
        merchant.front_form(
            order_id="SB202612070000000042",
            amount_fen=12345,
            txn_time=now,
            pay_timeout=now + dt.timedelta(minutes=15),
            front_url="https://sb.example/pay/return/unionpay",
            back_url="https://sb.example/notify/unionpay",
        )

    print(
        f"front form signed:      {per_call(sign, args.batches, args.per_batch):.3f} ms CPU per call (min of "
        f"{args.batches} batches of {args.per_batch})"
    )
    print(
        f"notification verified: {per_call(lambda: trust.verify(notice), args.batches, args.per_batch):.3f} ms CPU "
        f"per call (chain + signature)"
    )


if __name__ == "__main__":
    main()

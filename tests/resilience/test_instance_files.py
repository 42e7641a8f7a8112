"""Several app processes starting at once on an empty instance folder (gunicorn -w 4 without
--preload) must end up with one secret key and one pair of sandbox keys, not one per process:
a session signed by one worker is read by another, a request the merchant key signed in one
worker is verified in another."""

import multiprocessing
import os
from pathlib import Path

from sbweb.payments import signing

STARTERS = 6


def _start_app(instance: str, barrier, out):
    from sbweb import create_app

    barrier.wait()  # every process creates its app in the same instant
    app = create_app(
        {
            "INSTANCE_PATH": instance,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance}/db.sqlite3",
            "HUEY_IMMEDIATE": True,
        }
    )
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    from sbweb.payments.sandbox import sandbox_app

    keys = sandbox_app(app)  # the keys this process signs and verifies with
    merchant = load_pem_private_key(keys.app_private_key.encode(), None)
    out.put((app.config["SECRET_KEY"], signing.public_pem(merchant), keys.alipay_public_key))


def test_workers_starting_together_share_one_secret_and_one_key_pair(tmp_path):
    instance = tmp_path / "instance"
    os.environ.pop("SBWEB_SECRET_KEY", None)
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as gunicorn's workers are
    barrier, out = spawn.Barrier(STARTERS), spawn.Queue()
    starters = [spawn.Process(target=_start_app, args=(str(instance), barrier, out)) for _ in range(STARTERS)]
    for p in starters:
        p.start()
    seen = [out.get(timeout=120) for _ in starters]
    for p in starters:
        p.join(timeout=30)
        assert p.exitcode == 0
    secrets, merchants, platforms = (set(column) for column in zip(*seen, strict=False))
    assert len(secrets) == 1, f"{len(secrets)} different secret keys among {STARTERS} processes"
    assert len(merchants) == 1, f"{len(merchants)} different merchant keys among {STARTERS} processes"
    assert len(platforms) == 1, f"{len(platforms)} different platform keys among {STARTERS} processes"
    # What every process holds is what is on disk, for the next process to read.
    assert (instance / "secret_key").read_text().strip() in secrets
    assert signing.public_pem(signing.load_or_create_keypair(instance / "keys", "sandbox_merchant")) in merchants
    assert not list(Path(instance / "keys").glob("*.tmp*")), "temporary files left behind"

"""Every file sbweb writes in the instance folder is its owner's only (0600, folders 0700): the
database and its -wal and -shm, huey's queue, mails (a 验证码, a certificate), backups, the secret
key, the sandbox's keys, the record of databases made — whatever the umask of the shell that
started it (022 makes 0644 files) — and files already there from before are made so at start."""

import os
import stat
from pathlib import Path

from sqlalchemy import select

from sbweb import create_app, demo
from sbweb import mail as outbox
from sbweb.db import db
from sbweb.models import Person

OPERATOR_UMASK = 0o022


def modes(folder: Path) -> dict[str, tuple[str, int]]:
    """Everything in `folder`: its name, whether a file or a folder, and its permission bits."""
    return {
        str(p.relative_to(folder)): ("folder" if p.is_dir() else "file", stat.S_IMODE(p.lstat().st_mode))
        for p in sorted(folder.rglob("*"))
    }


def test_every_file_sbweb_writes_in_the_instance_folder_is_its_owners_only(tmp_path):
    instance = tmp_path / "instance"
    previous = os.umask(OPERATOR_UMASK)
    try:
        # What an earlier release left, readable by everyone.
        (instance / "outbox").mkdir(parents=True)
        (instance / "outbox" / "0-1.eml").write_text("Subject: 验证码 123456\n")
        (instance / "config.py").write_text("MAIL_DEFAULT_SENDER = 'pilot <noreply@example.gov.cn>'\n")
        assert stat.S_IMODE((instance / "config.py").stat().st_mode) == 0o644

        app = create_app({"TESTING": True, "INSTANCE_PATH": str(instance), "HUEY_IMMEDIATE": False})
        runner = app.test_cli_runner()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        with app.app_context():
            demo.load()
            person = db.session.scalar(select(Person).filter_by(name="王芳"))
            mail_id = outbox.queue(
                person.id, "wangfang@example.com", "验证码", "您的验证码是 654321。", holds_secret=True
            ).id
            assert outbox.deliver(mail_id) == "sent"  # written to instance/outbox/
            assert runner.invoke(args=["backup"]).exit_code == 0
            # The app's connections are open: SQLite's -wal and -shm are there now.
            found = modes(instance)
            db.session.remove()
            db.engine.dispose()
        found.update(modes(instance))
    finally:
        os.umask(previous)

    files = {name for name, (kind, _) in found.items() if kind == "file"}
    expected = {
        "sbweb.sqlite3",
        "sbweb.sqlite3-wal",
        "sbweb.sqlite3-shm",
        "huey.sqlite3",
        "secret_key",
        "databases.txt",
        "config.py",
        "outbox/0-1.eml",
        f"outbox/{mail_id}-1.eml",
        "keys/sandbox_merchant.pem",
        "keys/sandbox_platform.pem",
    }
    assert expected <= files, sorted(files)
    assert any(name.startswith("backups/sbweb-") and name.endswith(".sqlite3") for name in files), sorted(files)
    wrong = {name: oct(mode) for name, (kind, mode) in found.items() if mode != (0o600 if kind == "file" else 0o700)}
    assert not wrong, wrong
    assert stat.S_IMODE(instance.stat().st_mode) == 0o700

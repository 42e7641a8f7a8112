"""图形验证码 before a certificate is issued, with the alternatives the 适老化 rules ask for (MIIT
§1.5, a form another sense can take): the image's digits read aloud in Mandarin (a WAV made by
Debian's espeak-ng, where it is installed), and a question in words (七加五等于几？) that a screen
reader can read aloud.

A challenge lives on the server (CaptchaChallenge), bound to the sign-in that was shown it, good
for one answer and LIFETIME seconds: taking it is one conditional UPDATE, so an answer replayed
(from a copied cookie, a second tab, the same request sent twice) finds it used. The answer is
derived from the challenge's nonce with the app's secret and never stored or sent to the browser,
so the image can be drawn again on reload.
"""

import datetime as dt
import hashlib
import hmac
import io
import secrets
import shutil
import struct
import subprocess

from captcha.image import ImageCaptcha
from sqlalchemy import select, update

from sbweb.db import db, write_transaction
from sbweb.models import CaptchaChallenge
from sbweb.models.base import utcnow

WORDS = "零一二三四五六七八九十"
LIFETIME = 300


def new_challenge(session_id: int, kind: str = "image") -> CaptchaChallenge:
    """A fresh challenge for the session (kind "image" or "text"); any earlier one is void."""
    now = utcnow()
    with write_transaction():
        db.session.execute(
            update(CaptchaChallenge)
            .where(CaptchaChallenge.session_id == session_id, CaptchaChallenge.used_at.is_(None))
            .values(used_at=now)
        )
        row = CaptchaChallenge(
            session_id=session_id,
            kind="text" if kind == "text" else "image",
            nonce=secrets.token_hex(8),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=LIFETIME),
        )
        db.session.add(row)
    return row


def current(session_id: int) -> CaptchaChallenge | None:
    """The session's challenge still waiting for its answer, if any."""
    return db.session.scalar(
        select(CaptchaChallenge)
        .where(
            CaptchaChallenge.session_id == session_id,
            CaptchaChallenge.used_at.is_(None),
            CaptchaChallenge.expires_at > utcnow(),
        )
        .order_by(CaptchaChallenge.id.desc())
        .limit(1)
    )


def _digest(secret: str, held: CaptchaChallenge) -> bytes:
    return hmac.new(secret.encode(), f"{held.kind}:{held.nonce}".encode(), hashlib.sha256).digest()


def answer_of(secret: str, held: CaptchaChallenge) -> str:
    digest = _digest(secret, held)
    if held.kind == "text":
        return str(digest[0] % 9 + 1 + digest[1] % 9 + 1)
    return "".join(str(b % 10) for b in digest[:4])


def question(secret: str, held: CaptchaChallenge) -> str:
    """The text challenge as shown (and read aloud)."""
    digest = _digest(secret, held)
    return f"{WORDS[digest[0] % 9 + 1]}加{WORDS[digest[1] % 9 + 1]}等于几？"


def image_png(secret: str, held: CaptchaChallenge) -> bytes:
    buffer = io.BytesIO()
    ImageCaptcha(width=160, height=60).write(answer_of(secret, held), buffer, format="png")
    return buffer.getvalue()


def answer(secret: str, session_id: int, typed: str) -> tuple[bool, str]:
    """One try at the session's challenge, which is used up whatever the answer: (right?, the
    kind it was, so the next one can be of the same kind)."""
    held = current(session_id)
    if held is None:
        return False, "image"
    with write_transaction():
        taken = (
            db.session.execute(
                update(CaptchaChallenge)
                .where(
                    CaptchaChallenge.id == held.id,
                    CaptchaChallenge.used_at.is_(None),
                    CaptchaChallenge.expires_at > utcnow(),
                )
                .values(used_at=utcnow())
            ).rowcount
            == 1
        )
    if not taken:
        return False, held.kind
    typed = "".join((typed or "").split())[:8].translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return hmac.compare_digest(typed.encode(), answer_of(secret, held).encode()), held.kind


def speech_program(configured: str | None) -> str | None:
    """The espeak-ng to read challenges with (the configured name or path), or None: not installed."""
    return shutil.which(configured) if configured else None


def audio_wav(program: str, secret: str, held: CaptchaChallenge) -> bytes | None:
    """The image challenge's digits read aloud in Mandarin, twice, slowly: a RIFF/WAVE file (None
    if espeak-ng fails). The answer goes to espeak-ng on its standard input, never on a command line
    another process could read."""
    digits = "，".join(WORDS[int(d)] for d in answer_of(secret, held))
    try:
        done = subprocess.run(
            [program, "-v", "cmn", "-s", "130", "--stdin", "--stdout"],
            input=f"验证码：{digits}。再听一遍：{digits}。".encode(),
            capture_output=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return _sized(done.stdout)


def _sized(wav: bytes) -> bytes | None:
    """espeak-ng writing to a pipe cannot go back to fill in the RIFF and data sizes (it leaves
    them at 2 GB): fill them in, so players show the real length."""
    at = wav.find(b"data", 12)
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE" or at < 0:
        return None
    return (
        b"RIFF"
        + struct.pack("<I", len(wav) - 8)
        + wav[8 : at + 4]
        + struct.pack("<I", len(wav) - at - 8)
        + wav[at + 8 :]
    )

"""图形验证码 before a certificate is issued, with the non-image alternative the 适老化 rules
ask for: a question in words (七加五等于几？) that a screen reader can read aloud.

The answer never travels to the browser: the session holds a random nonce, and the answer is
derived from it with the app's secret (Flask's session cookie is signed, not encrypted), so
the image can be drawn again on reload. A challenge is good for one try and 5 minutes.
"""
import hashlib
import hmac
import io
import secrets
import time

from captcha.image import ImageCaptcha

WORDS = "零一二三四五六七八九十"
LIFETIME = 300


def new_challenge(kind: str = "image") -> dict:
    """What the session keeps for a new challenge (kind "image" or "text")."""
    return {"kind": "text" if kind == "text" else "image", "nonce": secrets.token_hex(8),
            "expires": time.time() + LIFETIME}


def _digest(secret: str, held: dict) -> bytes:
    return hmac.new(secret.encode(), f"{held['kind']}:{held['nonce']}".encode(), hashlib.sha256).digest()


def answer_of(secret: str, held: dict) -> str:
    digest = _digest(secret, held)
    if held["kind"] == "text":
        return str(digest[0] % 9 + 1 + digest[1] % 9 + 1)
    return "".join(str(b % 10) for b in digest[:4])


def question(secret: str, held: dict) -> str:
    """The text challenge as shown (and read aloud)."""
    digest = _digest(secret, held)
    return f"{WORDS[digest[0] % 9 + 1]}加{WORDS[digest[1] % 9 + 1]}等于几？"


def image_png(secret: str, held: dict) -> bytes:
    buffer = io.BytesIO()
    ImageCaptcha(width=160, height=60).write(answer_of(secret, held), buffer, format="png")
    return buffer.getvalue()


def check(secret: str, held: dict | None, answer: str) -> bool:
    """One try: the caller drops the challenge whatever this says."""
    if not held or time.time() > held.get("expires", 0):
        return False
    typed = "".join((answer or "").split())[:8].translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return hmac.compare_digest(typed.encode(), answer_of(secret, held).encode())

"""RSA2 (SHA256withRSA) signatures over parameters, as Alipay's open platform defines them,
for the sandbox's side of the protocol (our client signs and verifies with python-alipay-sdk).

Requests sign every parameter but `sign`; notifications and returns are signed over every
parameter but `sign` and `sign_type`. Empty values are left out; keys are sorted; pairs are
joined `key=value` with `&`, values not URL-encoded.
"""

import base64
import functools
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sbweb.instance_files import read_or_create


def signing_string(params: Mapping[str, str], exclude=("sign",)) -> str:
    pairs = sorted((k, v) for k, v in params.items() if k not in exclude and v not in (None, ""))
    return "&".join(f"{k}={v}" for k, v in pairs)


def sign(private_key: rsa.RSAPrivateKey, message: str) -> str:
    signature = private_key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(public_key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            message.encode("utf-8"),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@functools.lru_cache(maxsize=16)
def _load_private(path: str, mtime_ns: int):
    # Parsing a PEM costs ~50 ms; keyed by mtime so a replaced key file is read again.
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


def load_or_create_keypair(directory: Path, name: str) -> rsa.RSAPrivateKey:
    """The private key `name`.pem in `directory`, made (2048-bit) on first use. Processes racing
    to make it all end up with the one that was written first."""
    path = Path(directory) / f"{name}.pem"
    if not path.exists():
        read_or_create(path, _new_private_pem)
    return _load_private(str(path), path.stat().st_mtime_ns)


def _new_private_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key) -> str:
    public = key.public_key() if hasattr(key, "public_key") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )

"""The keys of an Alipay app (公钥 mode): its two key files read and checked, and the parsed keys
each client signs and verifies with.

An app signs with its own RSA private key (app_private_key_file) and verifies Alipay with 支付宝公钥
(alipay_public_key_file), both RSA of 2048 bits or more (RSA2). Files are PEM, or the bare base64
Alipay's key tool writes and its open platform shows. A file that is wrong is refused at start
with a ConfigurationError naming the setting and what to fix, never what the key contains.
"""

import functools
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class ConfigurationError(RuntimeError):
    """A provider or sign-in that cannot start as configured; the message says what to fix.
    It never holds key material."""


# -- the key files ---------------------------------------------------------------------------


def _pem(text: str, kind: str) -> bytes:
    """A key file's text as PEM: Alipay's key tool writes bare base64 (PKCS#8 private keys,
    X.509 public keys); PEM files are taken as they are."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text.encode("ascii", "replace")
    body = re.sub(r"\s+", "", text)
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n".encode("ascii", "replace")


def _read_key_file(where: str, setting: str, settings: Mapping, instance_path: str) -> tuple[Path, str]:
    value = settings.get(setting)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}: {setting} is missing (a file path, relative to the instance folder)")
    path = Path(instance_path) / value
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigurationError(f"{where}: {setting} {path} does not exist") from None
    except PermissionError:
        raise ConfigurationError(f"{where}: {setting} {path} cannot be read (permissions)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{where}: {setting} {path} cannot be read as a key file ({exc.__class__.__name__})"
        ) from None
    if "CERTIFICATE" in text:
        raise ConfigurationError(
            f"{where}: {setting} {path} is a certificate; sbweb uses Alipay's "
            "公钥 mode (a public key), not 公钥证书 mode"
        )
    return path, text


def _private_key(where: str, settings: Mapping, instance_path: str) -> rsa.RSAPrivateKey:
    path, text = _read_key_file(where, "app_private_key_file", settings, instance_path)
    key = None
    for kind in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        try:
            key = serialization.load_pem_private_key(_pem(text, kind), password=None)
            break
        except (ValueError, TypeError):
            continue
    if key is None:
        raise ConfigurationError(
            f"{where}: app_private_key_file {path} is not an unencrypted RSA "
            "private key (PEM, or the bare base64 Alipay's key tool writes)"
        )
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise ConfigurationError(
            f"{where}: app_private_key_file {path} must be an RSA key of 2048 bits or more (RSA2 signing)"
        )
    return key


def _public_key(where: str, settings: Mapping, instance_path: str) -> rsa.RSAPublicKey:
    path, text = _read_key_file(where, "alipay_public_key_file", settings, instance_path)
    if "PRIVATE" in text:
        raise ConfigurationError(
            f"{where}: alipay_public_key_file {path} holds a private key; it must "
            "be 支付宝公钥 (Alipay's public key, from the open platform)"
        )
    try:
        key = serialization.load_pem_public_key(_pem(text, "PUBLIC KEY"))
    except (ValueError, TypeError):
        raise ConfigurationError(
            f"{where}: alipay_public_key_file {path} is not a public key "
            "(PEM, or the bare base64 the open platform shows)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise ConfigurationError(
            f"{where}: alipay_public_key_file {path} must be an RSA key of 2048 bits or more (RSA2)"
        )
    return key


def _public_numbers(key) -> tuple[int, int]:
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def read_keys(where: str, settings: Mapping, instance_path: str) -> tuple[str, str]:
    """The app's private key and Alipay's public key from their files, checked, as PEM text
    (PKCS#8 and SubjectPublicKeyInfo): what `AlipayClient` takes."""
    private = _private_key(where, settings, instance_path)
    public = _public_key(where, settings, instance_path)
    if _public_numbers(public) == _public_numbers(private.public_key()):
        raise ConfigurationError(
            f"{where}: alipay_public_key_file holds this app's own public key "
            "(应用公钥); it must be 支付宝公钥, Alipay's key shown beside it"
        )
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_pem.decode("ascii"), public_pem.decode("ascii")


# -- parsed once per process ----------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def private_pem_key(pem: str) -> rsa.RSAPrivateKey:
    # Parsing checks the key (tens of ms); every app built in this process with the same key
    # files shares one parse.
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


@functools.lru_cache(maxsize=16)
def public_pem_key(pem: str) -> rsa.RSAPublicKey:
    return serialization.load_pem_public_key(pem.encode("ascii"))

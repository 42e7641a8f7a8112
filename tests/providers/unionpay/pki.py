"""A test PKI made in the test, with `cryptography`, shaped as UnionPay's is: a root, an
intermediate under it, and UnionPay's signing certificate under that (its CN in UnionPay's
`…@…@中国银联股份有限公司@…` form); a merchant's signing certificate in a PFX with a password,
as UnionPay issues it. Strangers (another root, another organisation, an expired or a CA
certificate) are made the same way for the refusals."""

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from sbweb.payments.unionpay import SigningKey, Trust

ORG = "中国银联股份有限公司"
UNIONPAY_CN = f"041@Z12@{ORG}@00000001"
PFX_PASSWORD = "acp-test-pw-7391"
NOW = dt.datetime.now(dt.UTC)


def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(cn: str, org: str = "China UnionPay") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def issue(
    subject: x509.Name,
    public_key,
    issuer: x509.Name,
    issuer_key,
    *,
    ca: bool,
    serial: int | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    signing: bool = True,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=30))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=signing,
                content_commitment=signing,
                key_encipherment=not signing,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


@dataclass
class Authority:
    """A root and an intermediate CA."""

    root: x509.Certificate
    root_key: rsa.RSAPrivateKey
    middle: x509.Certificate
    middle_key: rsa.RSAPrivateKey

    @staticmethod
    def make(label: str = "CFCA TEST") -> "Authority":
        root_key, middle_key = key(), key()
        root_name, middle_name = name(f"{label} ROOT"), name(f"{label} OCA1")
        root = issue(
            root_name, root_key.public_key(), root_name, root_key, ca=True, not_after=NOW + dt.timedelta(days=3650)
        )
        middle = issue(
            middle_name, middle_key.public_key(), root_name, root_key, ca=True, not_after=NOW + dt.timedelta(days=1825)
        )
        return Authority(root, root_key, middle, middle_key)

    def signer(self, cn: str = UNIONPAY_CN, **options) -> SigningKey:
        """A signing certificate (with its key) issued by the intermediate."""
        own = key()
        certificate = issue(
            name(cn), own.public_key(), self.middle.subject, self.middle_key, ca=options.pop("ca", False), **options
        )
        return SigningKey(certificate=certificate, private_key=own)

    def trust(self) -> Trust:
        return Trust.from_pem(pem(self.root), pem(self.middle))


def pfx(signer: SigningKey, password: str = PFX_PASSWORD) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"acp_sign",
        signer.private_key,
        signer.certificate,
        None,
        serialization.BestAvailableEncryption(password.encode()),
    )


@dataclass
class UnionPayPKI:
    """UnionPay's chain and signing key, and a merchant's PFX (issued under the same test CA)."""

    authority: Authority
    unionpay: SigningKey
    merchant: SigningKey
    merchant_pfx: bytes

    @staticmethod
    def make() -> "UnionPayPKI":
        authority = Authority.make()
        merchant = authority.signer(cn="041@Z20@898000000000001@00000001", serial=69042905377)
        return UnionPayPKI(authority, authority.signer(), merchant, pfx(merchant))

    def unionpay_signs(self, fields: dict, signer: SigningKey | None = None) -> dict:
        """Fields as UnionPay signs them: with signPubKeyCert, certId and signature."""
        signer = signer or self.unionpay
        return signer.sign({**fields, "signPubKeyCert": pem(signer.certificate).decode()})

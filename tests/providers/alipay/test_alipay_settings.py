"""A live Alipay account's settings are checked when the app starts, with messages that say
what to fix — and never show the keys."""

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from sbweb.identity.hosts.alipay import from_settings as signin_from_settings
from sbweb.payments.alipay import (
    PROVIDER_SETTINGS,
    AlipayProvider,
    ConfigurationError,
    provider_from_settings,
    read_app,
)


@pytest.fixture(scope="module")
def keys():
    return SimpleNamespace(
        app=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        alipay=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def private_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def bare(pem: bytes) -> str:
    """The key as Alipay's key tool and open platform show it: base64 on one line."""
    return "".join(pem.decode().splitlines()[1:-1])


@pytest.fixture
def instance(tmp_path, keys):
    folder = tmp_path / "keys" / "alipay"
    folder.mkdir(parents=True)
    (folder / "app_private_key.pem").write_bytes(private_pem(keys.app))
    (folder / "alipay_public_key.pem").write_bytes(public_pem(keys.alipay))
    return SimpleNamespace(instance_path=str(tmp_path), folder=folder)


GOOD = {
    "kind": "alipay",
    "app_id": "2021000123456789",
    "seller_id": "2088123412341234",
    "app_private_key_file": "keys/alipay/app_private_key.pem",
    "alipay_public_key_file": "keys/alipay/alipay_public_key.pem",
    "timeout": 10,
}


def refusal(instance, keys, **changes) -> str:
    settings = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    with pytest.raises(ConfigurationError) as refused:
        provider_from_settings("alipay", settings, instance)
    message = str(refused.value)
    assert message.startswith("PAYMENT_PROVIDERS['alipay']: ")
    for key in (keys.app, keys.alipay):  # no piece of any key in the message
        for pem in (private_pem(key), public_pem(key)):
            assert not any(chunk in message for chunk in re.findall(r"[A-Za-z0-9+/]{20,}", pem.decode()))
    return message


def test_a_live_account_with_pem_or_bare_base64_keys_starts(instance, keys):
    provider = provider_from_settings("alipay", GOOD, instance)
    assert isinstance(provider, AlipayProvider)
    assert (provider.app_id, provider.seller_id, provider.gateway_url) == (
        "2021000123456789",
        "2088123412341234",
        "https://openapi.alipay.com/gateway.do",
    )
    (instance.folder / "app.txt").write_text(bare(private_pem(keys.app)))
    (instance.folder / "alipay.txt").write_text(bare(public_pem(keys.alipay)) + "\n")
    assert provider_from_settings(
        "alipay",
        {**GOOD, "app_private_key_file": "keys/alipay/app.txt", "alipay_public_key_file": "keys/alipay/alipay.txt"},
        instance,
    )
    account = read_app("PAYMENT_PROVIDERS['alipay']", GOOD, instance.instance_path, allowed=PROVIDER_SETTINGS)
    assert "BEGIN" in account.app_private_key and "KEY" not in repr(account)  # kept, never shown


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"app_id": None}, "app_id must be the app's 16-digit APPID"),
        ({"app_id": "2088123412341234x"}, "app_id must be the app's 16-digit APPID"),
        ({"seller_id": None}, "seller_id must be the account's PID"),
        ({"seller_id": "2021000123456789"}, "seller_id must be the account's PID"),
        ({"gateway": "http://openapi.alipay.com/gateway.do"}, "gateway must be an https URL"),
        ({"timeout": 0}, "timeout must be a number of seconds"),
        ({"timeout": "10"}, "timeout must be a number of seconds"),
        ({"app_private_key_path": "keys/alipay/app_private_key.pem"}, "unknown settings ['app_private_key_path']"),
        ({"app_private_key_file": None}, "app_private_key_file is missing"),
        ({"alipay_public_key_file": "keys/alipay/none.pem"}, "alipay_public_key_file"),
    ],
)
def test_settings_that_cannot_work_are_refused_at_start_up(instance, keys, changes, says):
    assert says in refusal(instance, keys, **changes)


def test_a_missing_or_unreadable_key_file_is_named(instance, keys):
    assert "does not exist" in refusal(instance, keys, app_private_key_file="keys/alipay/missing.pem")
    (instance.folder / "a-folder.pem").mkdir()
    assert "cannot be read" in refusal(instance, keys, app_private_key_file="keys/alipay/a-folder.pem")
    (instance.folder / "binary.pem").write_bytes(b"\xff\xfe\x00garbage")
    assert "cannot be read as a key file" in refusal(instance, keys, app_private_key_file="keys/alipay/binary.pem")


def test_keys_of_the_wrong_kind_are_named(instance, keys):
    folder = instance.folder
    (folder / "swapped_private.pem").write_bytes(public_pem(keys.app))
    assert "is not an unencrypted RSA private key" in refusal(
        instance, keys, app_private_key_file="keys/alipay/swapped_private.pem"
    )
    (folder / "swapped_public.pem").write_bytes(private_pem(keys.alipay))
    assert "holds a private key; it must be 支付宝公钥" in refusal(
        instance, keys, alipay_public_key_file="keys/alipay/swapped_public.pem"
    )
    (folder / "own_public.pem").write_bytes(public_pem(keys.app))
    assert "holds this app's own public key (应用公钥)" in refusal(
        instance, keys, alipay_public_key_file="keys/alipay/own_public.pem"
    )
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (folder / "small.pem").write_bytes(private_pem(small))
    assert "2048 bits or more" in refusal(instance, keys, app_private_key_file="keys/alipay/small.pem")
    (folder / "ec.pem").write_bytes(private_pem(ec.generate_private_key(ec.SECP256R1())))
    assert "must be an RSA key" in refusal(instance, keys, app_private_key_file="keys/alipay/ec.pem")
    (folder / "encrypted.pem").write_bytes(
        keys.app.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert "unencrypted RSA private key" in refusal(instance, keys, app_private_key_file="keys/alipay/encrypted.pem")


def test_certificate_mode_is_refused_with_what_to_use_instead(instance, keys):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "支付宝公钥证书")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(keys.alipay.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1))
        .not_valid_after(dt.datetime(2030, 1, 1))
        .sign(keys.alipay, hashes.SHA256())
    )
    (instance.folder / "alipayCertPublicKey_RSA2.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert "公钥 mode" in refusal(instance, keys, alipay_public_key_file="keys/alipay/alipayCertPublicKey_RSA2.crt")


def test_the_app_does_not_start_with_a_broken_alipay_account(tmp_path, key_dir):
    from sbweb import create_app

    with pytest.raises(ConfigurationError, match="does not exist"):
        create_app(
            {
                "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
                "INSTANCE_PATH": str(tmp_path),
                "PAYMENT_KEY_DIR": str(key_dir),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
                "PAYMENT_PROVIDERS": {"alipay": GOOD},
                "PAYMENT_CHANNELS": {"alipay": "alipay"},
                "WITHHOLD_PROVIDER": "alipay",
            }
        )
    with pytest.raises(RuntimeError, match="WITHHOLD_PROVIDER 'alipay' is not a configured provider"):
        create_app(
            {
                "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
                "INSTANCE_PATH": str(tmp_path),
                "PAYMENT_KEY_DIR": str(key_dir),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
                "WITHHOLD_PROVIDER": "alipay",
            }
        )


def test_host_signin_settings_are_checked_the_same_way(instance, keys):
    signin_settings = {k: v for k, v in GOOD.items() if k != "seller_id"}
    signin = signin_from_settings("alipay", signin_settings, instance)
    assert (signin.host, signin.app_id) == ("alipay", "2021000123456789")
    with pytest.raises(ConfigurationError, match=r"HOST_SIGNIN\['alipay'\]: host must be one of"):
        signin_from_settings("alipay", {**signin_settings, "host": "taobao"}, instance)
    with pytest.raises(ConfigurationError, match="authorize_url must be an https URL"):
        signin_from_settings("alipay", {**signin_settings, "authorize_url": "http://openauth.alipay.com/x"}, instance)
    with pytest.raises(ConfigurationError, match="unknown settings"):
        signin_from_settings("alipay", GOOD, instance)  # seller_id belongs to payments


def test_real_money_and_the_sandbox_never_serve_the_same_app(tmp_path, key_dir, instance):
    from sbweb import create_app

    config = {
        "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
        "INSTANCE_PATH": instance.instance_path,
        "PAYMENT_KEY_DIR": str(key_dir),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite3",
        "PAYMENT_PROVIDERS": {"alipay": GOOD},
        "PAYMENT_CHANNELS": {"alipay": "alipay"},
        "WITHHOLD_PROVIDER": "alipay",
    }
    with pytest.raises(RuntimeError, match="SANDBOX_ENABLED must be False: alipay take"):
        create_app(config)  # the default SANDBOX_ENABLED = True: its cashier would mark dues paid for nothing
    with pytest.raises(RuntimeError, match="HOST_SANDBOX_ENABLED must be False"):
        create_app({**config, "SANDBOX_ENABLED": False})  # its 同意授权 as a demo resident of one's choice
    live = create_app({**config, "SANDBOX_ENABLED": False, "HOST_SANDBOX_ENABLED": False})
    assert sorted(live.extensions["sbweb.providers"]) == ["alipay"]
    assert live.test_client().get("/sandbox/gateway.do").status_code == 404
    # Alipay's own open-platform sandbox takes no money either: the two may run together.
    dev = {**GOOD, "gateway": "https://openapi-sandbox.dl.alipaydev.com/gateway.do"}
    assert "sandbox" in create_app({**config, "PAYMENT_PROVIDERS": {"alipay": dev}}).extensions["sbweb.providers"]

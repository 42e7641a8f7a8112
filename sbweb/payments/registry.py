"""Which provider object serves which name, built once per app from configuration: the
embedded `sandbox`, and each entry of PAYMENT_PROVIDERS by its `kind`."""

from werkzeug.utils import import_string

from sbweb.payments import sandbox, sandbox_unionpay

# kind (PAYMENT_PROVIDERS[name]["kind"]) → "module:factory(name, settings, app)"
KINDS: dict[str, str] = {
    "alipay": "sbweb.payments.alipay:provider_from_settings",
    "wechatpay": "sbweb.payments.wechat:from_settings",
    "unionpay": "sbweb.payments.unionpay:from_settings",
}
# Channels no real provider serves yet: only the embedded sandbox may.
NOT_YET: dict[str, str] = {}


def init_providers(app) -> None:
    """Build the app's providers and check that the channels and 批扣 are served as configured;
    a RuntimeError saying what to fix stops the app from starting otherwise."""
    providers = _build(app)
    for channel, name in app.config["PAYMENT_CHANNELS"].items():
        if channel in NOT_YET and (name != "sandbox" or name not in providers):
            raise RuntimeError(
                f"PAYMENT_CHANNELS[{channel!r}]: {NOT_YET[channel]}; only the sandbox "
                f"serves it — remove the channel for a live pilot"
            )
    missing = set(app.config["PAYMENT_CHANNELS"].values()) - providers.keys()
    if missing:
        raise RuntimeError(f"PAYMENT_CHANNELS names providers that are not configured: {missing}")
    if app.config["WITHHOLD_PROVIDER"] and app.config["WITHHOLD_PROVIDER"] not in providers:
        raise RuntimeError(
            f"WITHHOLD_PROVIDER {app.config['WITHHOLD_PROVIDER']!r} is not a configured "
            f"provider (configured: {sorted(providers)})"
        )
    for channel, name in app.config["PAYMENT_CHANNELS"].items():
        served = getattr(providers[name], "channels", None)  # None: a provider for any channel
        if served is not None and channel not in served:
            raise RuntimeError(f"PAYMENT_CHANNELS[{channel!r}]: provider {name!r} serves only {sorted(served)}")
    withholder = providers.get(app.config["WITHHOLD_PROVIDER"])
    if withholder is not None and not getattr(withholder, "withholds", True):
        raise RuntimeError(
            f"WITHHOLD_PROVIDER = {app.config['WITHHOLD_PROVIDER']!r}: that provider does not "
            "withhold (WeChat Pay's 委托代扣 is a separate product this adapter does not offer)"
        )
    _refuse_sandbox_beside_real_money(app, providers)
    app.extensions["sbweb.providers"] = providers


def _build(app) -> dict:
    """The embedded sandbox (if enabled), then each PAYMENT_PROVIDERS entry by its kind."""
    providers = {}
    if app.config["SANDBOX_ENABLED"]:
        providers["sandbox"] = sandbox.client_for(app)
        providers.update(sandbox_unionpay.providers_for(app))  # 云闪付: our UnionPay client
    for name, settings in app.config["PAYMENT_PROVIDERS"].items():
        kind = settings.get("kind")
        if kind not in KINDS:
            raise RuntimeError(f"PAYMENT_PROVIDERS[{name!r}]: unknown kind {kind!r} (known: {sorted(KINDS)})")
        if name in providers:
            raise RuntimeError(f"PAYMENT_PROVIDERS[{name!r}]: the name is taken by the sandbox")
        providers[name] = import_string(KINDS[kind])(name, settings, app)
    return providers


def _refuse_sandbox_beside_real_money(app, providers: dict) -> None:
    live = sorted(name for name, provider in providers.items() if getattr(provider, "takes_real_money", False))
    for setting in ("SANDBOX_ENABLED", "HOST_SANDBOX_ENABLED"):
        if live and app.config[setting]:
            # Beside real money the sandbox would be a way to have dues marked paid for nothing
            # (its cashier), and its host sign-in a verified session as a demo resident of one's
            # choice: a live pilot runs without either.
            raise RuntimeError(
                f"{setting} must be False: {', '.join(live)} take(s) real money, and the "
                "sandbox, which takes none, must not serve the same residents"
            )

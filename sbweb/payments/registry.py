"""Which provider object serves which name, built once per app from configuration: the
embedded `sandbox`, and each entry of PAYMENT_PROVIDERS by its `kind`."""
from werkzeug.utils import import_string

from sbweb.payments import sandbox

# kind (PAYMENT_PROVIDERS[name]["kind"]) → "module:factory(name, settings, app)"
KINDS: dict[str, str] = {
    "alipay": "sbweb.payments.alipay:provider_from_settings",
}


def init_providers(app) -> None:
    providers = {}
    if app.config["SANDBOX_ENABLED"]:
        providers["sandbox"] = sandbox.client_for(app)
    for name, settings in app.config["PAYMENT_PROVIDERS"].items():
        kind = settings.get("kind")
        if kind not in KINDS:
            raise RuntimeError(f"PAYMENT_PROVIDERS[{name!r}]: unknown kind {kind!r} (known: {sorted(KINDS)})")
        if name in providers:
            raise RuntimeError(f"PAYMENT_PROVIDERS[{name!r}]: the name is taken by the sandbox")
        providers[name] = import_string(KINDS[kind])(name, settings, app)
    missing = set(app.config["PAYMENT_CHANNELS"].values()) - providers.keys()
    if missing:
        raise RuntimeError(f"PAYMENT_CHANNELS names providers that are not configured: {missing}")
    if app.config["WITHHOLD_PROVIDER"] not in providers:
        raise RuntimeError(f"WITHHOLD_PROVIDER {app.config['WITHHOLD_PROVIDER']!r} is not a configured "
                           f"provider (configured: {sorted(providers)})")
    app.extensions["sbweb.providers"] = providers

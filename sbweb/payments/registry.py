"""Which provider object serves which name, built once per app."""
from sbweb.payments import sandbox


def init_providers(app) -> None:
    providers = {}
    if app.config["SANDBOX_ENABLED"]:
        providers["sandbox"] = sandbox.client_for(app)
    # Real adapters (an AlipayWapProvider with the live gateway and keys, WeChat JSAPI, UnionPay)
    # are added here from configuration; the rest of the app only sees names.
    missing = set(app.config["PAYMENT_CHANNELS"].values()) - providers.keys()
    if missing:
        raise RuntimeError(f"PAYMENT_CHANNELS names providers that are not configured: {missing}")
    app.extensions["sbweb.providers"] = providers

"""The machine API's replay check: a signed request's nonce is taken once per client within the
replay window. In Redis when API_NONCE_REDIS_URL is set (SET NX with an expiry: one round trip,
shared by every process), else in the database's `notify_nonces` through the providers' replay
store (sbweb.payments.replay: its unique constraint decides a race). Redis out of reach: the
database decides, so a replay is refused either way and nothing answers 500."""

import logging

from flask import current_app

from sbweb.payments import InvalidNotice, replay

log = logging.getLogger(__name__)
STORE = "api"  # the notify_nonces.provider of the API's nonces


class ReplayedNonce(Exception):
    pass


def _redis():
    url = current_app.config.get("API_NONCE_REDIS_URL")
    if not url:
        return None
    clients = current_app.extensions.setdefault("sbweb.api_nonce_redis", {})
    if url not in clients:
        import redis

        clients[url] = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return clients[url]


def take(client_pk: int, nonce: str, window: int) -> None:
    """Record the nonce for this client; ReplayedNonce if it was taken already."""
    key = f"{client_pk}:{nonce}"
    store = _redis()
    if store is not None:
        try:
            name = f"{current_app.config['RATELIMIT_KEY_PREFIX']}:api-nonce:{key}"
            fresh = store.set(name, 1, nx=True, ex=2 * window)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: the database decides instead
            log.warning("API nonce store (Redis) out of reach, using the database: %s", type(exc).__name__)
        else:
            if not fresh:
                raise ReplayedNonce(nonce)
            return
    try:
        replay.remember_nonce(STORE, key, window=window)
    except InvalidNotice:
        raise ReplayedNonce(nonce) from None

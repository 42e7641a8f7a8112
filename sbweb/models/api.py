"""The machine API's own rows: the agencies' and the tax bureau's clients (their signing secret
sealed with the app's key), and the feed's outbox — one row per event, written in the
transaction that moved the money, its position in the feed given later in commit order
(sbweb.services.api_events)."""

import datetime as dt

from sqlalchemy import JSON, BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

API_SCOPES = ("dues:write", "enrollments:write", "standards:write", "events:read")
API_EVENT_KINDS = (
    "payment.settled",
    "refund.completed",
    "due.reopened",
    "due.voided",
    "document.voided",
    "declaration.created",
    "declaration.voided",
)


class ApiClient(db.Model):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The key id sent with every request (X-SB-Key-Id); public, not a secret.
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # The agency this client speaks for; None: the tax bureau, which sees every tax office.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, from API_SCOPES
    # The HMAC secret, AES-GCM sealed with a key derived from SECRET_KEY: the server must be able
    # to compute the signature again, so a one-way hash cannot do.
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    agency = relationship("Agency")

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())


class ApiEvent(db.Model):
    """One event of the feed. Written (without position or payload) in the transaction that
    settles a ticket or completes an item's refund; `position` and the frozen `payload` are set
    by the sequencer, one lock-holder at a time, so positions follow commit order."""

    __tablename__ = "api_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    # The event's id for consumers' de-duplication, and the guard against writing one twice:
    # payment.settled:<ticket_no>, refund.completed:<refund item id>.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    # What the event is about: the ticket (payment.settled, refund.completed), the due's move
    # (due.*), the declaration (declaration.*) or the document (document.voided, one event per tax
    # office its lines were paid to). Revision 0030 made ticket_id optional for the others.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    due_event_id: Mapped[int | None] = mapped_column(ForeignKey("due_events.id"), unique=True)
    declaration_id: Mapped[int | None] = mapped_column(ForeignKey("declarations.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True)
    tax_office_id: Mapped[int] = mapped_column(ForeignKey("tax_offices.id"), index=True)
    refund_item_id: Mapped[int | None] = mapped_column(ForeignKey("refund_items.id"), unique=True)
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    payload: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sequenced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def wire(self) -> dict:
        """The event as the feed gives it and a webhook delivers it (docs/api.md)."""
        at = self.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if self.created_at else None
        return {
            "id": self.key,
            "type": self.kind,
            "position": str(self.position),
            "occurred_at": at,
            "data": self.payload,
        }

"""SQLAlchemy models, one module per aggregate. Importing this package registers them all."""

from sbweb.models.api import ApiClient, ApiEvent  # noqa: F401
from sbweb.models.api_batch import ApiBatch  # noqa: F401
from sbweb.models.bank import BankAccount, BankAgreement, WithholdingNotice, WithholdingSkip  # noqa: F401
from sbweb.models.declaration import Declaration  # noqa: F401
from sbweb.models.document import Document, DocumentItem, FirstIssue, OutboxMail, Reminder, ReminderSent  # noqa: F401
from sbweb.models.due import Due, DueEvent  # noqa: F401
from sbweb.models.enrollment import Agency, Enrollment, TaxOffice  # noqa: F401
from sbweb.models.host_account import HostAccount  # noqa: F401
from sbweb.models.login_session import CaptchaChallenge, LoginSession  # noqa: F401
from sbweb.models.order import IssuedNumber, Order, OrderEvent, OrderItem, Refund, Ticket  # noqa: F401
from sbweb.models.payee import Payee  # noqa: F401
from sbweb.models.person import Person  # noqa: F401
from sbweb.models.reconciliation import ReconDifference, ReconRun  # noqa: F401
from sbweb.models.refund_application import RefundApplication, RefundItem, RefundReason  # noqa: F401
from sbweb.models.sandbox import SandboxGrant, SandboxNotify, SandboxRefund, SandboxTrade  # noqa: F401
from sbweb.models.settlement import SettlementFile  # noqa: F401
from sbweb.models.staff import AuditEntry, Staff  # noqa: F401
from sbweb.models.standard import Region, Standard  # noqa: F401
from sbweb.models.throttle import LookupFailure  # noqa: F401
from sbweb.models.verification import NotifyNonce, VerificationCode  # noqa: F401
from sbweb.models.webhook import WebhookDelivery, WebhookEndpoint  # noqa: F401

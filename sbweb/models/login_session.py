"""Sign-ins kept on the server: who a browser is, at which level, since when and until when.

The browser's cookie holds only a random token; its SHA-256 is the key here, so a copy of this
table opens no session. A row that has ended stays (without its token mattering any more) as the
resident's 登录记录 and the staff member's list of sign-ins.
"""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

LEVEL_LABELS = {"lookup": "证件信息查询", "verified": "已验证身份"}
END_LABELS = {
    "sign-out": "已退出",
    "idle": "长时间未操作",
    "absolute": "登录时间已满",
    "replaced": "已重新登录",
    "revoked": "已被结束",
    "password": "密码已修改",
    "disabled": "账号已停用",
}


class LoginSession(db.Model):
    __tablename__ = "login_sessions"
    __table_args__ = (
        Index("ix_login_sessions_open_person", "person_id", "ended_at"),
        Index("ix_login_sessions_open_staff", "staff_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # resident | staff
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    level: Mapped[str | None] = mapped_column(String(10))  # lookup | verified (residents)
    host: Mapped[str | None] = mapped_column(String(20))
    # The host app's own id for its user (an Alipay user id, a WeChat openid): paying inside WeChat
    # needs it.
    host_subject: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(64), default="")  # masked: 203.0.113.*
    agent: Mapped[str] = mapped_column(String(120), default="")
    signed_in_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # the absolute limit
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(10))
    # Orders made in this session: a looked-up session sees only those.
    orders: Mapped[list] = mapped_column(JSON, default=list)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS.get(self.level or "", "")

    @property
    def end_label(self) -> str:
        return END_LABELS.get(self.end_reason or "", "")


class CaptchaChallenge(db.Model):
    """A 验证码 shown to one session: good for one answer, for a few minutes. The answer is derived
    from the nonce with the app's secret and never stored or sent to the browser."""

    __tablename__ = "captcha_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # image | text
    nonce: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

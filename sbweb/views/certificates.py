"""证明开具: 电子缴费凭证, 缴费证明, 完税证明 (首开/补开), their 代缴 variants, 开具记录, the
document page (下载 / 发送至邮箱, with each mail's state and 重试), and the public 证明核验.

Certificates of a person's records need a verified session and a 验证码 (an image, or a
question in words for those who cannot read the image); a voucher goes with its order.
"""

import datetime as dt
from urllib.parse import quote

from flask import Blueprint, abort, current_app, flash, make_response, redirect, request, session, url_for

from sbweb import identity, mail
from sbweb.db import db
from sbweb.forms.base import options
from sbweb.forms.certificates import (
    MailForm,
    PaymentCertForm,
    PlainForm,
    ProxyCertForm,
    ProxyTaxQueryForm,
    TaxPickForm,
    TaxQueryForm,
)
from sbweb.htmx import render_step
from sbweb.identity import captcha, throttled_lookup
from sbweb.models import Person
from sbweb.services import documents, records, registry
from sbweb.services.documents import DocumentError

bp = Blueprint("certificates", __name__)


# -- 验证码 ------------------------------------------------------------------------------------


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _challenge(kind: str | None = None):
    """The session's current challenge, or a new one (of `kind`, or of the kind it had)."""
    sid = identity.current_login().id
    held = captcha.current(sid)
    if kind or held is None:
        held = captcha.new_challenge(sid, kind or "image")
    return held


def _speech() -> str | None:
    return captcha.speech_program(current_app.config.get("CAPTCHA_SPEECH"))


def _captcha_context() -> dict:
    held = _challenge()
    return {
        "captcha_kind": held.kind,
        "captcha_question": captcha.question(_secret(), held) if held.kind == "text" else None,
        "captcha_nonce": held.nonce,
        "captcha_audio": held.kind == "image" and _speech() is not None,
    }


def _captcha_passed(form) -> bool:
    """One try per challenge: right or wrong, the next page shows a new one, with the box empty
    (what was typed answered the old one)."""
    right, kind = captcha.answer(_secret(), identity.current_login().id, form.captcha.data)
    form.captcha.data = ""
    if right:
        return True
    form.captcha.errors = list(form.captcha.errors) + ["验证码不正确，请重新输入"]
    _challenge(kind)
    return False


def _no_store(body: bytes, mimetype: str):
    response = make_response(body)
    response.headers.update({"Content-Type": mimetype, "Cache-Control": "no-store"})
    return response


@bp.get("/certificates/captcha.png")
def captcha_image():
    return _no_store(captcha.image_png(_secret(), _challenge()), "image/png")


@bp.get("/certificates/captcha.wav")
def captcha_audio():
    """听语音验证码: the digits of the image on the page, read aloud. Only for the challenge that
    page showed (`n`, its nonce) while it waits for its answer: a page left open past it, or
    another session's address, gets nothing."""
    held, program = captcha.current(identity.current_login().id), _speech()
    if held is None or held.kind != "image" or program is None or request.args.get("n") != held.nonce:
        abort(404)
    wav = captcha.audio_wav(program, _secret(), held)
    if wav is None:
        abort(503)
    return _no_store(wav, "audio/wav")


def _switching(form) -> bool:
    """看不清？改用文字题 / 换一张 / 改用图形验证码: a button of the form itself, so what the resident
    chose and typed stays (but the 验证码 box: a new challenge); nothing is checked or issued."""
    kind = request.form.get("captcha_kind")
    if request.method != "POST" or kind not in ("image", "text"):
        return False
    _challenge(kind)
    form.captcha.data = ""
    return True


# -- pages ---------------------------------------------------------------------------------------


@bp.get("/certificates/")
def index():
    return render_step("certificates/index.html", verified=identity.is_verified())


def _years(form, person_id: int, paid_by: int | None = None):
    years = sorted(
        {int(item.period_start[:4]) for item in records.paid_items_of(person_id, paid_by=paid_by)}, reverse=True
    )
    form.year.choices = options((y, f"{y}年") for y in years)
    return years


@bp.route("/certificates/payment", methods=["GET", "POST"])
def payment():
    """缴费证明 / 缴费记录凭证 for one of the person's years."""
    person = identity.person_id()
    form = PaymentCertForm()
    years = _years(form, person)
    switching = _switching(form)
    if not switching and form.validate_on_submit() and _captcha_passed(form):
        try:
            doc = documents.payment_certificate(person, person, form.year.data)
        except DocumentError as exc:
            form[exc.field].errors.append(exc.message)
        else:
            return redirect(url_for("certificates.show", doc_no=doc.doc_no), 303)
    return render_step(
        "certificates/payment.html",
        form=form,
        years=years,
        **_captcha_context(),
        status=422 if form.is_submitted() and not switching else 200,
    )


@bp.get("/certificates/tax")
def tax():
    """完税证明: 首开 or 补开, for oneself or (代缴) for a payee."""
    return render_step("certificates/tax.html", issues=TAX_ISSUES)


TAX_ISSUES = {"first": "首开完税证明", "reissue": "补开完税证明"}
TAX_QUERY = "tax_query"  # the session's 查询 between 证明查询信息 and 证明信息列表


def _issue(issue: str) -> str:
    if issue not in TAX_ISSUES:
        abort(404)
    return issue


def _offices(form, holder_id: int | None) -> None:
    """主管税务机关: every office, filled in with the holder's own when they have one (as the seeds do)."""
    form.tax_office.choices = options([("", "全部主管税务机关")] + registry.tax_offices_of())
    own = registry.tax_offices_of(holder_id) if holder_id is not None else []
    if not form.is_submitted() and len(own) == 1:
        form.tax_office.data = own[0][0]


def _criteria(kept: dict) -> dict:
    days = ("paid_from", "paid_to", "issued_from", "issued_to")
    return {k: (dt.date.fromisoformat(v) if k in days and v else v) for k, v in kept.items()}


def _found(form, payer: int, holder: int, issue: str, proxy: bool):
    """查询: on a hit, keep it in the session and go to 证明信息列表; else the seeds' words."""
    try:
        documents.tax_search(payer, holder, issue=issue, proxy=proxy, **_criteria(form.criteria()))
    except DocumentError as exc:
        form.form_errors.append(exc.message)
        return None
    session[TAX_QUERY] = {
        "person": payer,
        "holder": holder,
        "proxy": proxy,
        "issue": issue,
        "criteria": form.criteria(),
    }
    return redirect(url_for("certificates.tax_list", issue=issue), 303)


@bp.route("/certificates/tax/<issue>", methods=["GET", "POST"])
def tax_query(issue):
    """首开 / 补开完税证明 — 证明查询信息: 票证号码, 费款所属期, 缴费日期, 主管税务机关 (补开: 开具日期)."""
    issue, person = _issue(issue), identity.person_id()
    form = TaxQueryForm()
    _offices(form, person)
    if form.validate_on_submit() and (found := _found(form, person, person, issue, proxy=False)):
        return found
    return render_step(
        "certificates/tax_query.html",
        form=form,
        issue=issue,
        title=TAX_ISSUES[issue],
        proxy=False,
        status=422 if form.is_submitted() else 200,
    )


@bp.route("/certificates/proxy/tax/<issue>", methods=["GET", "POST"])
def proxy_tax_query(issue):
    """首开 / 补开完税证明（代缴）: the payee's 证件 + 姓名, then the same 查询 (only what this payer paid)."""
    issue, payer = _issue(issue), identity.person_id()
    form = ProxyTaxQueryForm()
    _offices(form, None)
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        person, status = throttled_lookup(form)
        if person is not None and person.id == payer:
            form.id_number.errors.append(f"为本人开具请使用“{TAX_ISSUES[issue]}”")
        elif person is not None and (found := _found(form, payer, person.id, issue, proxy=True)):
            return found
        status = 422 if status == 200 else status
    return render_step(
        "certificates/tax_query.html",
        form=form,
        issue=issue,
        title=f"{TAX_ISSUES[issue]}（代缴）",
        proxy=True,
        status=status,
    )


def _kept_query(issue: str) -> dict | None:
    kept = session.get(TAX_QUERY)
    if not kept or kept.get("person") != identity.person_id() or kept.get("issue") != issue:
        return None
    return kept


def _listed(kept: dict | None, issue: str) -> list:
    """What the kept 查询 finds now (nothing without one; its tickets may have been issued since)."""
    if kept is None:
        return []
    try:
        return documents.tax_search(
            kept["person"], kept["holder"], issue=issue, proxy=kept["proxy"], **_criteria(kept["criteria"])
        )
    except DocumentError as exc:
        flash(exc.message)
        return []


def _issue_tax(form, kept: dict, issue: str):
    """开具 the picked ticket's 完税证明, then show it; None when refused (beside the ticket)."""
    try:
        doc = documents.tax_certificate(
            kept["person"], kept["holder"], issue=issue, ticket_no=form.ticket.data, proxy=kept["proxy"]
        )
    except DocumentError as exc:
        form.ticket.errors.append(exc.message)
        return None
    return redirect(url_for("certificates.show", doc_no=doc.doc_no), 303)


@bp.route("/certificates/tax/<issue>/list", methods=["GET", "POST"])
def tax_list(issue):
    """证明信息列表: the tickets 查询 found, one to pick, then 开具 (one 完税证明 per ticket)."""
    issue = _issue(issue)
    kept = _kept_query(issue)
    found = _listed(kept, issue)
    if not found:  # you can't be on the list without a 查询 that finds something
        query = "certificates.proxy_tax_query" if kept and kept["proxy"] else "certificates.tax_query"
        return redirect(url_for(query, issue=issue), 303)
    form = TaxPickForm(ticket=found[0].ticket_no if len(found) == 1 else None)
    form.ticket.choices = options((t.ticket_no, t.ticket_no) for t in found)
    switching = _switching(form)
    if not switching and form.validate_on_submit() and _captcha_passed(form):
        issued = _issue_tax(form, kept, issue)
        if issued is not None:
            return issued
    return render_step(
        "certificates/tax_list.html",
        form=form,
        found=found,
        issue=issue,
        proxy=kept["proxy"],
        title=TAX_ISSUES[issue] + ("（代缴）" if kept["proxy"] else ""),
        holder=db.session.get(Person, kept["holder"]),
        **_captcha_context(),
        status=422 if form.is_submitted() and not switching else 200,
    )


@bp.route("/certificates/proxy", methods=["GET", "POST"])
def proxy():
    """缴费证明（代缴）: for a payee named by 证件号码 + 姓名, only what this payer paid."""
    payer = identity.person_id()
    form = ProxyCertForm()
    form.year.choices = options((y, f"{y}年") for y in records.record_years(payer))
    switching = _switching(form)
    status = 422 if form.is_submitted() and not switching else 200
    if not switching and form.validate_on_submit() and _captcha_passed(form):
        person, status = throttled_lookup(form)
        if person is not None and person.id == payer:
            status = 422
            form.id_number.errors.append("为本人开具请使用“缴费证明”")
        elif person is not None:
            try:
                doc = documents.payment_certificate(payer, person.id, form.year.data, proxy=True)
            except DocumentError as exc:
                form.year.errors.append(exc.message)
                status = 422
            else:
                return redirect(url_for("certificates.show", doc_no=doc.doc_no), 303)
    return render_step("certificates/proxy.html", form=form, **_captcha_context(), status=status)


@bp.get("/certificates/issued")
def issued():
    """开具记录: every document this person had issued."""
    return render_step("certificates/issued.html", docs=documents.issued_by(identity.person_id()))


@bp.get("/orders/<order_no>/voucher")
def voucher(order_no):
    """电子缴费凭证 of a settled order the resident may see (made once, then the same)."""
    if not identity.may_see_order_no(order_no):  # before anything is made for it
        abort(404)
    try:
        doc = documents.voucher(identity.person_id(), order_no)
    except DocumentError:
        abort(404)
    return redirect(url_for("certificates.show", doc_no=doc.doc_no), 303)


def _own(doc_no: str):
    doc = documents.own_document(identity.person_id(), doc_no)
    if (
        doc is None
        or (doc.kind == "voucher" and not identity.may_see_order(doc.order))
        or (doc.kind != "voucher" and not identity.is_verified())
    ):
        abort(404)
    return doc


def verify_url(doc) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL") or request.url_root.rstrip("/")
    return f"{base}{url_for('certificates.verify', code=doc.verify_code)}"


def _rendered(doc):
    """The PDF as this session may have it: the holder's own copy (a verified session of the
    holder, not a 代缴 variant) carries the full 证件号码; any other copy is masked."""
    own = identity.is_verified() and identity.person_id() == doc.holder_id and not doc.proxy
    return documents.download(
        doc, verify_url=verify_url(doc), font=current_app.config.get("PDF_FONT_PATH"), full_id=own
    )


@bp.get("/certificates/d/<doc_no>")
def show(doc_no):
    doc = _own(doc_no)
    form = MailForm()
    if not form.email.data:
        form.email.data = identity.current_person().email or ""
    # The addresses it went to are the person's own data: not for a looked-up session.
    return render_step(
        "certificates/show.html",
        doc=doc,
        form=form,
        retry=PlainForm(),
        mails=mail.mails_of(identity.person_id(), doc.id) if identity.is_verified() else [],
    )


@bp.get("/certificates/d/<doc_no>.pdf")
def download(doc_no):
    doc = _own(doc_no)
    rendered = _rendered(doc)
    response = make_response(rendered.data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{doc.doc_no}.pdf\"; filename*=UTF-8''{quote(rendered.filename)}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _queue_mail(form, doc):
    """The document's PDF to the outbox, to the address typed; None when refused (beside it)."""
    rendered = _rendered(doc)
    try:
        mail.queue(
            identity.person_id(),
            form.email.data,
            f"{doc.label} {doc.doc_no}",
            f"您好：\n\n附件为您在社保费缴纳服务开具的{doc.label}（编号 {doc.doc_no}）。\n"
            f"核验地址：{verify_url(doc)}\n\n此邮件由系统发送，请勿回复。",
            attachment_name=rendered.filename,
            attachment=rendered.data,
            document_id=doc.id,
        )
    except mail.MailError as exc:
        form.email.errors.append(exc.message)
        return None
    flash(f"已提交发送至 {form.email.data}，发送结果见下方")
    return redirect(url_for("certificates.show", doc_no=doc.doc_no), 303)


@bp.post("/certificates/d/<doc_no>/mail")
def send(doc_no):
    """发送至邮箱: the PDF goes to the outbox; a job sends it (and retries)."""
    doc = _own(doc_no)
    form = MailForm()
    if form.validate_on_submit() and (queued := _queue_mail(form, doc)) is not None:
        return queued
    return render_step(
        "certificates/show.html",
        doc=doc,
        form=form,
        retry=PlainForm(),
        mails=mail.mails_of(identity.person_id(), doc.id),
        status=422,
    )


@bp.post("/certificates/mail/<int:mail_id>/retry")
def retry(mail_id):
    form = PlainForm()
    if form.validate_on_submit():
        try:
            again = mail.retry(identity.person_id(), mail_id)
        except mail.MailError as exc:
            flash(exc.message)
            return redirect(url_for("certificates.issued" if identity.is_verified() else "home.index"), 303)
        flash("已重新提交发送")
        if again.document is not None:
            return redirect(url_for("certificates.show", doc_no=again.document.doc_no), 303)
    return redirect(url_for("home.index"), 303)


@bp.get("/verify")
@bp.get("/verify/<code>")
def verify(code=None):
    """证明核验 (public): a code from the paper or its QR code → what the document said when issued,
    and whether it still holds (已作废: when and why)."""
    code = code or request.args.get("code", "")
    doc = documents.by_code(code) if code else None
    return render_step("certificates/verify.html", code=code[:32], doc=doc, status=404 if code and doc is None else 200)

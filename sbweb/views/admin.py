"""The pilot's back office (/admin): staff sign in with a password (hashed; locked after
repeated wrong passwords) into a staff session of their own (sbweb.staff_auth: kept on the server,
apart from the residents'), see and end their sessions, review refund applications, and read the audit log. Desktop width,
plain HTML forms; every POST carries the CSRF token."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_wtf.file import FileField, FileRequired
from sqlalchemy.exc import SQLAlchemyError
from wtforms import PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from sbweb import auth, staff_auth
from sbweb.db import db
from sbweb.forms.admin import ConfirmForm, PasswordForm, ReasonForm, TaxOfficeForm
from sbweb.forms.base import Form, Select, options
from sbweb.forms.refunds import ReviewForm
from sbweb.htmx import render_step
from sbweb.models import RefundApplication, RefundReason, TaxOffice
from sbweb.request_checks import upload_limit
from sbweb.services import audit_words, imports, login_sessions, refund_applications, refund_reasons, tax_offices
from sbweb.services import staff as staff_service

bp = Blueprint("admin", __name__, url_prefix="/admin")


class LoginForm(Form):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])
    submit = SubmitField("登录")


class ImportForm(Form):
    file = FileField("导入文件（CSV 或 XLSX）", validators=[FileRequired("请选择要导入的文件")])
    submit = SubmitField("试运行")


IMPORT_MAX_BYTES = 5 * 1024 * 1024


@bp.context_processor
def staff_context():
    return {"staff": staff_auth.current_staff()}


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            staff = staff_service.authenticate(form.username.data, form.password.data)
        except staff_service.StaffError as exc:
            form.form_errors.append(exc.message)
        else:
            target = auth.safe_next(request.args.get("next"), "")
            response = redirect(target if target.startswith("/admin/") else url_for("admin.index"), 303)
            staff_auth.sign_in(staff, response)
            return response
    return render_step("admin/login.html", form=form, status=422 if form.is_submitted() else 200)


@bp.post("/logout")
def logout():
    response = redirect(url_for("admin.login"), 303)
    staff_auth.sign_out(response)
    return response


@bp.route("/account", methods=["GET", "POST"])
def account():
    """账号与登录设备: this staff member's open sessions (each can be ended) and 修改密码, which
    ends every session but this one."""
    me, here = staff_auth.current_staff(), staff_auth.current_session()
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            ended = staff_service.change_password(me.id, form.current.data, form.new.data, keep_session=here.id)
        except staff_service.StaffError as exc:
            (form.current if exc.message == staff_service.WRONG_CURRENT else form.new).errors.append(exc.message)
        else:
            flash(f"密码已修改，其他 {ended} 个登录已结束")
            response = redirect(url_for("admin.account"), 303)
            staff_auth.sign_in(me, response)  # this one goes on under a new token
            return response
    sessions = login_sessions.open_sessions_of_staff(me.id, current_app.config["SESSION_IDLE_TIMEOUT"])
    return render_step(
        "admin/account.html",
        form=form,
        sessions=sessions,
        here=here.id,
        end_form=ConfirmForm(),
        status=422 if form.is_submitted() else 200,
    )


@bp.post("/account/sessions/<int:session_id>/end")
def end_session(session_id):
    form = ConfirmForm()
    if form.validate_on_submit():
        me, here = staff_auth.current_staff(), staff_auth.current_session()
        if not login_sessions.end_one_of_staff(me.id, session_id):
            abort(404)
        if session_id == here.id:
            return redirect(url_for("admin.login"), 303)
        flash("已结束该登录")
    return redirect(url_for("admin.account"), 303)


@bp.get("/staff")
def staff_list():
    """工作人员 (admin only): every account and its open sessions, each account's ended at once."""
    idle = current_app.config["SESSION_IDLE_TIMEOUT"]
    rows = [(s, len(login_sessions.open_sessions_of_staff(s.id, idle))) for s in staff_service.all_staff()]
    return render_step("admin/staff.html", rows=rows, end_form=ConfirmForm())


@bp.post("/staff/<int:staff_id>/end-sessions")
def end_staff_sessions(staff_id):
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            ended = staff_service.end_sessions_of(staff_auth.current_staff().id, staff_id)
        except staff_service.StaffError:
            abort(404)
        flash(f"已结束该工作人员的 {ended} 个登录")
    return redirect(url_for("admin.staff_list"), 303)


@bp.get("/")
def index():
    return render_step("admin/index.html", pending=len(refund_applications.pending()))


@bp.get("/refunds")
def refunds():
    from sbweb.payments import orders

    return render_step(
        "admin/refunds.html",
        rows=refund_applications.pending(),
        transfers=refund_applications.awaiting_transfer(),
        unfinished=orders.unfinished_refunds(),
    )


@bp.route("/refunds/<int:application_id>", methods=["GET", "POST"])
def refund(application_id):
    """退费审核 item by item: 下一步 shows what will go back and where (nothing moves yet), 确认退费
    sends it; or 全部不通过 with a reason; for a bank-account refund, 确认已转账 once made."""
    application = db.session.get(RefundApplication, application_id)
    if application is None:
        abort(404)
    form = ReviewForm()
    form.approve.choices = options((i.id, str(i.id)) for i in application.items)
    if application.account is None:  # made by the system (多退 on a new standard): 原路退回 only
        form.method.choices = [c for c in form.method.choices if c.value != "bank"]
    plan, me = None, staff_auth.current_staff().id
    if form.validate_on_submit():
        decision = request.form.get("decision")
        try:
            if decision == "review":
                plan = refund_applications.plan(application_id, set(form.approve.data or []), form.method.data)
                if plan.turned_down and not (form.note.data or "").strip():
                    plan = None
                    form.note.errors.append("请填写不同意退费的原因")
            elif decision == "approve":
                refund_applications.approve(
                    me, application_id, set(form.approve.data or []), form.method.data, form.note.data
                )
                flash(f"已审核通过 {application.application_no}，退费已发起")
                return redirect(url_for("admin.refunds"), 303)
            elif decision == "transferred":
                refund_applications.confirm_bank_transfer(me, application_id)
                flash(f"已确认 {application.application_no} 退至银行账户")
                return redirect(url_for("admin.refunds"), 303)
            elif decision == "reject":
                refund_applications.reject(me, application_id, form.note.data)
                flash(f"已审核不通过 {application.application_no}")
                return redirect(url_for("admin.refunds"), 303)
            else:
                abort(400)
        except refund_applications.ApplicationError as exc:
            if exc.field in ("note", "method"):
                form[exc.field].errors.append(exc.message)
            else:
                form.form_errors.append(exc.message)
    application = db.session.get(RefundApplication, application_id)
    effect = refund_reasons.effect_of(application.reason, application.money_type)
    return render_step(
        "admin/refund.html",
        application=application,
        form=form,
        plan=plan,
        effect_words=refund_reasons.EFFECTS[effect],
        status=422 if form.is_submitted() and plan is None else 200,
    )


def _reason_form(row=None, formdata=None) -> ReasonForm:
    form = ReasonForm(
        formdata=formdata,
        prefix=f"r{row.id}" if row is not None else "new",
        data={"effect": row.effect, "active": row.active} if row is not None and formdata is None else None,
    )
    form.effect.choices = options(refund_reasons.EFFECTS.items())
    return form


def _render_reasons(failed: ReasonForm | None = None, failed_id: int | None = None, status: int = 200):
    rows = [
        (r, failed if failed is not None and failed_id == r.id else _reason_form(r)) for r in refund_reasons.reasons()
    ]
    new = failed if failed is not None and failed_id is None else _reason_form()
    return render_step(
        "admin/refund_reasons.html",
        rows=rows,
        new=new,
        failed_id=failed_id,
        may_edit=staff_auth.current_staff().role == "admin",
        effects=refund_reasons.EFFECTS,
        status=status,
    )


@bp.get("/refund-reasons")
def refund_reasons_page():
    """退费原因类型: what a refund for each reason does to the period it paid — owed again, not
    owed, or still paid at what was kept; changes apply to applications approved afterwards."""
    return _render_reasons()


@bp.post("/refund-reasons")
def add_refund_reason():
    form = _reason_form(formdata=request.form)
    if form.validate_on_submit():
        try:
            row = refund_reasons.add(
                staff_auth.current_staff().id, form.reason.data, form.effect.data, form.active.data
            )
        except refund_reasons.ReasonError as exc:
            form.reason.errors.append(exc.message)
        else:
            flash(f"已添加退费原因类型「{row.reason}」")
            return redirect(url_for("admin.refund_reasons_page"), 303)
    return _render_reasons(form, None, status=422)


@bp.post("/refund-reasons/<int:reason_id>")
def set_refund_reason(reason_id):
    row = db.get_or_404(RefundReason, reason_id)
    form = _reason_form(row, formdata=request.form)
    if form.validate_on_submit():
        try:
            refund_reasons.set_effect(staff_auth.current_staff().id, reason_id, form.effect.data, form.active.data)
        except refund_reasons.ReasonError as exc:
            form.effect.errors.append(exc.message)
        else:
            flash(f"已保存「{row.reason}」")
            return redirect(url_for("admin.refund_reasons_page"), 303)
    return _render_reasons(form, reason_id, status=422)


def _office_form(row, formdata=None) -> TaxOfficeForm:
    return TaxOfficeForm(
        formdata=formdata,
        prefix=f"t{row.id}",
        data={"name": row.name, "phone": row.phone, "hours": row.hours} if formdata is None else None,
    )


def _render_offices(failed: TaxOfficeForm | None = None, failed_id: int | None = None, status: int = 200):
    rows = [(o, failed if failed_id == o.id else _office_form(o)) for o in tax_offices.offices()]
    return render_step(
        "admin/tax_offices.html",
        rows=rows,
        failed_id=failed_id,
        national=tax_offices.NATIONAL,
        may_edit=staff_auth.current_staff().role == "admin",
        status=status,
    )


@bp.get("/tax-offices")
def tax_offices_page():
    """主管税务机关: the name and phone residents are told to call (every page's footer)."""
    return _render_offices()


@bp.post("/tax-offices/<int:office_id>")
def set_tax_office(office_id):
    row = db.get_or_404(TaxOffice, office_id)
    form = _office_form(row, formdata=request.form)
    if form.validate_on_submit():
        try:
            tax_offices.set_contact(
                staff_auth.current_staff().id,
                office_id,
                name=form.name.data,
                phone=form.phone.data,
                hours=form.hours.data,
            )
        except tax_offices.TaxOfficeError as exc:
            form[exc.field].errors.append(exc.message)
        else:
            flash(f"已保存「{form.name.data.strip()}」的联系电话")
            return redirect(url_for("admin.tax_offices_page"), 303)
    return _render_offices(form, office_id, status=422)


@bp.get("/status")
def status():
    """运行状态: what /readyz and /metrics say, in words with their thresholds."""
    from sbweb import ops

    checks = ops.readiness()
    try:
        figures = ops.figures()
    except SQLAlchemyError:
        db.session.rollback()
        figures = None
    return render_step("admin/status.html", ready=ops.ready(checks), rows=ops.status_rows(checks, figures))


@bp.get("/audit")
def audit():
    return render_step(
        "admin/audit.html",
        rows=audit_words.lines(staff_service.audit_log()),
        movements=staff_service.money_movements(),
        cause_words=audit_words.cause_words,
    )


@bp.route("/import", methods=["GET", "POST"])
@upload_limit(IMPORT_MAX_BYTES)
def import_file():
    """导入参保登记和应缴费款 (补缴 pushed by 人社/医保): 试运行 checks every row and writes
    nothing; 导入 writes only a file without a single bad row."""
    form = ImportForm()
    report = filename = None
    if form.validate_on_submit():
        upload = form.file.data
        filename = upload.filename or ""
        try:
            report = imports.check(imports.read(filename, upload.read()))
        except imports.ImportError_ as exc:
            form.file.errors.append(str(exc))
        else:
            if request.form.get("mode") == "apply" and report.ok:
                counts = imports.apply(staff_auth.current_staff().id, filename, report)
                flash(f"已导入 {counts['rows']} 行（其中应缴费款 {counts['dues']} 笔）")
                return redirect(url_for("admin.import_file"), 303)
    failed = form.is_submitted() and (form.errors or (report is not None and not report.ok))
    return render_step(
        "admin/import.html",
        form=form,
        report=report,
        filename=filename,
        columns=list(imports.COLUMNS),
        status=422 if failed else 200,
    )


# -- 对账 (reconciliation): reviewers and admins read; only admins run a day or resolve ----------


class ReconRunForm(Form):
    day = StringField("对账日期", validators=[DataRequired("请输入对账日期"), Length(max=10)])
    submit = SubmitField("立即对账")


class ResolveForm(Form):
    action = Select("处理方式", choices=[], validators=[DataRequired("请选择处理方式")])
    note = TextAreaField("说明", validators=[Length(max=200, message="不超过200字")])
    submit = SubmitField("提交")


def _resolve_form(difference, formdata=None) -> ResolveForm:
    from sbweb.services import reconciliation as recon

    form = ResolveForm(prefix=f"d{difference.id}", formdata=formdata)
    form.action.choices = options([("", "请选择")] + recon.actions_for(difference))
    return form


@bp.route("/reconciliation", methods=["GET", "POST"])
def reconciliation():
    import datetime as dt

    from sbweb.clock import shanghai_today
    from sbweb.payments import ProviderError
    from sbweb.services import reconciliation as recon

    form = ReconRunForm(data={"day": (shanghai_today() - dt.timedelta(days=1)).isoformat()})
    if request.method == "POST":
        if staff_auth.current_staff().role != "admin":
            abort(403)
        if form.validate_on_submit():
            try:
                day = dt.date.fromisoformat(form.day.data.strip())
            except ValueError:
                form.day.errors.append("请输入正确的日期，如 2026-11-22")
            else:
                try:
                    run = recon.reconcile(day, staff_id=staff_auth.current_staff().id)
                except recon.ReconError as exc:
                    (form.day.errors if exc.field == "day" else form.form_errors).append(exc.message)
                except ProviderError:
                    form.form_errors.append("暂时无法从支付机构获取账单，请稍后重试")
                else:
                    flash(f"已完成 {day.isoformat()} 的对账：匹配 {run.matched} 笔，差异 {run.differences} 笔")
                    return redirect(url_for("admin.reconciliation_run", run_id=run.id), 303)
    return render_step(
        "admin/reconciliation.html",
        form=form,
        rows=recon.recent_runs(),
        providers=recon.PROVIDER_LABELS,
        status=422 if form.is_submitted() else 200,
    )


def _render_run(run_id: int, failed: ResolveForm | None = None, failed_id: int | None = None, status: int = 200):
    from sqlalchemy import select

    from sbweb.models import Order, ReconRun
    from sbweb.services import reconciliation as recon

    run = db.session.get(ReconRun, run_id)
    if run is None:
        abort(404)
    differences = list(run.items)
    numbers = {d.out_trade_no for d in differences}
    ours = (
        {
            o.order_no: o
            for o in db.session.scalars(
                select(Order).where(Order.provider == run.provider, Order.order_no.in_(numbers))
            )
        }
        if numbers
        else {}
    )
    forms = {}
    if staff_auth.current_staff().role == "admin":
        for d in differences:
            if d.state == "open":
                forms[d.id] = failed if failed is not None and d.id == failed_id else _resolve_form(d)
    return render_step(
        "admin/reconciliation_run.html",
        run=run,
        differences=differences,
        orders=ours,
        forms=forms,
        failed=failed,
        names=recon.staff_names(differences),
        resolution_labels=recon.RESOLUTION_LABELS,
        providers=recon.PROVIDER_LABELS,
        is_refund=recon.is_refund,
        status=status,
    )


@bp.get("/reconciliation/<int:run_id>")
def reconciliation_run(run_id):
    return _render_run(run_id)


@bp.post("/reconciliation/<int:run_id>/differences/<int:difference_id>")
def reconciliation_resolve(run_id, difference_id):
    from sbweb.models import ReconDifference
    from sbweb.services import reconciliation as recon

    difference = db.session.get(ReconDifference, difference_id)
    if difference is None or difference.run_id != run_id:
        abort(404)
    form = _resolve_form(difference, formdata=request.form)
    if form.validate_on_submit():
        try:
            result = recon.resolve(staff_auth.current_staff().id, difference_id, form.action.data, form.note.data)
        except recon.ReconError as exc:
            target = {"action": form.action, "note": form.note}.get(exc.field)
            (target.errors if target is not None else form.form_errors).append(exc.message)
        else:
            flash(f"{difference.out_trade_no}：{result.message}")
            return redirect(url_for("admin.reconciliation_run", run_id=run_id), 303)
    return _render_run(run_id, failed=form, failed_id=difference_id, status=422)

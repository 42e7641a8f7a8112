"""Staff sign-in and sign-out, a staff member's own account (sessions, 修改密码), and, for
admins, every staff account and its sessions."""

from flask import abort, current_app, flash, redirect, request, url_for

from sbweb import identity, staff_auth
from sbweb.forms.admin import ConfirmForm, LoginForm, PasswordForm
from sbweb.htmx import render_step
from sbweb.identity import login_sessions
from sbweb.services import staff as staff_service
from sbweb.views.admin.blueprint import bp


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            staff = staff_service.authenticate(form.username.data, form.password.data)
        except staff_service.StaffError as exc:
            form.form_errors.append(exc.message)
        else:
            target = identity.safe_next(request.args.get("next"), "")
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
    if form.validate_on_submit() and (changed := _change_password(form, me, here)) is not None:
        return changed
    return render_step(
        "admin/account.html",
        form=form,
        sessions=login_sessions.open_sessions_of_staff(me.id, current_app.config["SESSION_IDLE_TIMEOUT"]),
        here=here.id,
        end_form=ConfirmForm(),
        status=422 if form.is_submitted() else 200,
    )


def _change_password(form: PasswordForm, me, here):
    """The new password set (the answer: back to the account page), or None with the form's error."""
    try:
        ended = staff_service.change_password(me.id, form.current.data, form.new.data, keep_session=here.id)
    except staff_service.StaffError as exc:
        (form.current if exc.message == staff_service.WRONG_CURRENT else form.new).errors.append(exc.message)
        return None
    flash(f"密码已修改，其他 {ended} 个登录已结束")
    response = redirect(url_for("admin.account"), 303)
    staff_auth.sign_in(me, response)  # this one goes on under a new token
    return response


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

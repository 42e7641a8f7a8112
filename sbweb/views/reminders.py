"""缴费提醒: subscribe an address to reminders about oneself or a payee, see and cancel them;
the mail's one link unsubscribes without signing in."""

from flask import Blueprint, abort, flash, redirect, url_for
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from sbweb import identity, mail
from sbweb.forms.base import Form, Select, options
from sbweb.htmx import render_step
from sbweb.services import payees, reminders

bp = Blueprint("reminders", __name__, url_prefix="/reminders")


class ReminderForm(Form):
    person = Select("提醒谁的缴费", coerce=int, validators=[InputRequired("请选择")])
    email = StringField(
        "电子邮箱",
        validators=[DataRequired("请输入电子邮箱地址"), Length(max=254, message="请输入正确的电子邮箱地址")],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )
    submit = SubmitField("订阅提醒")


class CancelForm(Form):
    submit = SubmitField("取消")


@bp.route("/", methods=["GET", "POST"])
def index():
    me = identity.current_person()
    form = ReminderForm()
    people = [(me.id, f"本人 {me.name}")] + [
        (p.person_id, f"被代缴人 {p.person.name}") for p in payees.payees_of(me.id)
    ]
    form.person.choices = options(people)
    if not form.is_submitted():
        form.email.data = me.email or ""
    if form.validate_on_submit():
        try:
            reminders.subscribe(me.id, form.person.data, form.email.data)
        except mail.MailError as exc:
            form.email.errors.append(exc.message)
        except reminders.ReminderError as exc:
            form[exc.field].errors.append(exc.message)
        else:
            flash("已订阅缴费提醒：有新的应缴费款、或征收期结束前一周，将发送邮件提醒")
            return redirect(url_for("reminders.index"), 303)
    names = dict(people)
    return render_step(
        "reminders/index.html",
        form=form,
        rows=reminders.reminders_of(me.id),
        names=names,
        cancel=CancelForm(),
        status=422 if form.is_submitted() else 200,
    )


@bp.post("/<int:reminder_id>/cancel")
def cancel(reminder_id):
    if CancelForm().validate_on_submit():
        if not reminders.cancel(identity.person_id(), reminder_id):
            abort(404)
        flash("已取消该缴费提醒")
    return redirect(url_for("reminders.index"), 303)


@bp.get("/unsubscribe/<token>")
def unsubscribe(token):
    """The link in every reminder mail: one click stops it (a scanner repeating it is harmless)."""
    reminder = reminders.unsubscribe(token)
    return render_step(
        "reminders/unsubscribed.html", found=reminder is not None, status=200 if reminder is not None else 404
    )

"""缴费提醒: subscribe an address to reminders about oneself or a payee, see and cancel them;
the mail's one link unsubscribes without signing in."""

from flask import Blueprint, abort, flash, redirect, url_for

from sbweb import identity, mail
from sbweb.forms.base import options
from sbweb.forms.reminders import CancelForm, ReminderForm
from sbweb.htmx import render_step
from sbweb.services import payees, reminders

bp = Blueprint("reminders", __name__, url_prefix="/reminders")


def _reminder_form(me) -> tuple[ReminderForm, list]:
    """The form, whose dues to remind of (oneself, or a payee), and the address on file."""
    form = ReminderForm()
    people = [(me.id, f"本人 {me.name}")] + [
        (p.person_id, f"被代缴人 {p.person.name}") for p in payees.payees_of(me.id)
    ]
    form.person.choices = options(people)
    if not form.is_submitted():
        form.email.data = me.email or ""
    return form, people


def _subscribe(form, me):
    """订阅提醒; None when refused, the message beside its field."""
    try:
        reminders.subscribe(me.id, form.person.data, form.email.data)
    except mail.MailError as exc:
        form.email.errors.append(exc.message)
        return None
    except reminders.ReminderError as exc:
        form[exc.field].errors.append(exc.message)
        return None
    flash("已订阅缴费提醒：有新的应缴费款、或征收期结束前一周，将发送邮件提醒")
    return redirect(url_for("reminders.index"), 303)


@bp.route("/", methods=["GET", "POST"])
def index():
    me = identity.current_person()
    form, people = _reminder_form(me)
    if form.validate_on_submit() and (done := _subscribe(form, me)) is not None:
        return done
    return render_step(
        "reminders/index.html",
        form=form,
        rows=reminders.reminders_of(me.id),
        names=dict(people),
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

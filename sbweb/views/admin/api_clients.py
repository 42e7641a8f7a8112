"""The machine API's clients in the back office (admins only): the list, a new client (its
secret shown once, on the answer to the POST itself: it is never stored in clear, so it cannot
come back on a later page), and revoking one — through the same service as `flask api-client`,
audited with the admin's name."""

from flask import flash, redirect, url_for
from sqlalchemy import select

from sbweb import staff_auth
from sbweb.db import db
from sbweb.forms.admin_api import ApiClientForm, RevokeForm
from sbweb.forms.base import options
from sbweb.htmx import render_step
from sbweb.models import Agency
from sbweb.services import api_clients
from sbweb.views.admin.blueprint import bp


def _form() -> ApiClientForm:
    form = ApiClientForm()
    agencies = db.session.scalars(select(Agency).order_by(Agency.code))
    form.agency.choices = options(
        [("", "不代表经办机构（税务局：可见全部主管税务机关）")] + [(a.code, f"{a.name}（{a.code}）") for a in agencies]
    )
    return form


def _page(form: ApiClientForm, status: int = 200):
    return render_step(
        "admin/api_clients.html", form=form, clients=api_clients.all_clients(), revoke=RevokeForm(), status=status
    )


@bp.route("/api-clients", methods=["GET", "POST"])
def api_clients_page():
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 422 if form.is_submitted() else 200)
    try:
        made = api_clients.create(
            form.name.data, form.scopes.data, form.agency.data or None, staff_id=staff_auth.current_staff().id
        )
    except api_clients.ApiClientError as exc:
        form.form_errors.append(exc.message)
        return _page(form, 422)
    answer = render_step("admin/api_client_created.html", client=made.client, secret=made.secret)
    answer.headers["Cache-Control"] = "no-store"  # the secret: never kept by a browser or a proxy
    return answer


@bp.post("/api-clients/<client_id>/revoke")
def revoke_api_client(client_id):
    if RevokeForm().validate_on_submit():
        try:
            client = api_clients.revoke(client_id[:40], staff_id=staff_auth.current_staff().id)
        except api_clients.ApiClientError as exc:
            flash(exc.message)
        else:
            flash(f"已停用客户端 {client.client_id}（{client.name}）")
    return redirect(url_for("admin.api_clients_page"), 303)

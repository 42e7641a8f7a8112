"""主管税务机关: the name, phone and hours residents are told to call (every page's footer);
reviewers read them, admins change them."""

from flask import flash, redirect, request, url_for

from sbweb import staff_auth
from sbweb.db import db
from sbweb.forms.admin import TaxOfficeForm
from sbweb.htmx import render_step
from sbweb.models import TaxOffice
from sbweb.services import tax_offices
from sbweb.views.admin.blueprint import bp


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
        may_edit=staff_auth.is_admin(),
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
        fields = {"name": form.name.data, "phone": form.phone.data, "hours": form.hours.data}
        try:
            tax_offices.set_contact(staff_auth.current_staff().id, office_id, **fields)
        except tax_offices.TaxOfficeError as exc:
            form[exc.field].errors.append(exc.message)
        else:
            flash(f"已保存「{form.name.data.strip()}」的联系电话")
            return redirect(url_for("admin.tax_offices_page"), 303)
    return _render_offices(form, office_id, status=422)

"""每日结算文件 in the back office: staff see a day's files of every tax office with their
totals and download each as CSV or XLSX (the same files the API serves)."""

import datetime as dt

from flask import abort, make_response, request

from sbweb.clock import shanghai_today
from sbweb.forms.admin_api import SettlementDayForm
from sbweb.htmx import render_step
from sbweb.services import settlement_files
from sbweb.views.admin.blueprint import bp


@bp.get("/settlement-files")
def settlement_files_page():
    form = SettlementDayForm(request.args)
    valid = form.validate() if request.args.get("day") else True
    day = (form.day.data if valid and form.day.data else None) or shanghai_today() - dt.timedelta(days=1)
    return render_step(
        "admin/settlement_files.html",
        form=form,
        day=day,
        files=settlement_files.listed(day, day),
        status=200 if valid else 422,
    )


@bp.get("/settlement-files/<day>/<office>.<any(csv, xlsx):extension>")
def settlement_file(day, office, extension):
    try:
        when = dt.date.fromisoformat(day[:10])
    except ValueError:
        abort(404)
    kept = settlement_files.find(when, office)
    if kept is None:
        abort(404)
    answer = make_response(bytes(kept.csv if extension == "csv" else kept.xlsx))
    answer.mimetype = settlement_files.CSV_TYPE if extension == "csv" else settlement_files.XLSX_TYPE
    answer.headers["Content-Disposition"] = f'attachment; filename="{settlement_files.filename(kept, extension)}"'
    return answer

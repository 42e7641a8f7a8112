"""导入参保登记和应缴费款 (补缴 pushed by 人社/医保) from a CSV or XLSX file (admins only)."""

from flask import flash, redirect, request, url_for

from sbweb import staff_auth
from sbweb.forms.admin import ImportForm
from sbweb.htmx import render_step
from sbweb.request_checks import upload_limit
from sbweb.services import imports
from sbweb.views.admin.blueprint import bp

IMPORT_MAX_BYTES = 5 * 1024 * 1024


@bp.route("/import", methods=["GET", "POST"])
@upload_limit(IMPORT_MAX_BYTES)
def import_file():
    """导入参保登记和应缴费款 (补缴 pushed by 人社/医保): 试运行 checks every row and writes
    nothing; 导入 writes only a file without a single bad row."""
    form = ImportForm()
    report = filename = None
    if form.validate_on_submit():
        report, filename = _check(form)
        if request.form.get("mode") == "apply" and report is not None and report.ok:
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


def _check(form: ImportForm):
    """试运行: the file read and every row checked (its report, None when the file cannot be read,
    the reason on the form), and its name."""
    upload = form.file.data
    filename = upload.filename or ""
    try:
        return imports.check(imports.read(filename, upload.read())), filename
    except imports.ImportError_ as exc:
        form.file.errors.append(str(exc))
        return None, filename

"""/api/v1/: the OpenAPI document as a page, rendered here from the generated document (no
Swagger UI or ReDoc: they load their scripts from a CDN, which our CSP and rules forbid)."""

from flask import Blueprint, current_app

from sbweb.htmx import render_step

bp = Blueprint("api_docs_page", __name__, url_prefix="/api/v1")


def _operations(spec: dict) -> list[dict]:
    found = []
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": operation.get("parameters", []),
                    "responses": sorted(operation.get("responses", {}).items()),
                }
            )
    return found


@bp.get("/")
def index():
    spec = current_app.extensions["sbweb.api"].spec.to_dict()
    return render_step("api/docs.html", spec=spec, operations=_operations(spec))

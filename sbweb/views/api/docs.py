"""/api/v1/: the OpenAPI document as a page, rendered here from the generated document (no
Swagger UI or ReDoc: they load their scripts from a CDN, which our CSP and rules forbid)."""

from flask import Blueprint, current_app

from sbweb.htmx import render_step

bp = Blueprint("api_docs_page", __name__, url_prefix="/api/v1")


def _resolved(spec: dict, response: dict) -> dict:
    """A response given as a $ref to components.responses (flask-smorest's 422, default): that one."""
    ref = response.get("$ref", "")
    return spec.get("components", {}).get("responses", {}).get(ref.rsplit("/", 1)[-1], response) if ref else response


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
                    "responses": [(c, _resolved(spec, r)) for c, r in sorted(operation.get("responses", {}).items())],
                }
            )
    return found


@bp.get("/")
def index():
    spec = current_app.extensions["sbweb.api"].spec.to_dict()
    return render_step("api/docs.html", spec=spec, operations=_operations(spec))

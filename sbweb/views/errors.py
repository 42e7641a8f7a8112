"""Every error a resident can meet, in Chinese, in the app's layout; never a bare 500."""
import logging

from flask import request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from sbweb.htmx import render_step

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("请求无效", "页面提交的内容无法识别，请返回重新操作。"),
    403: ("无权访问", "您没有权限查看该页面。"),
    404: ("页面不存在", "未找到您要访问的页面或记录，请返回首页重新进入。"),
    405: ("操作无效", "该页面不支持此操作，请返回重新操作。"),
    413: ("提交内容过长", "提交的内容超出限制，请检查后重新提交。"),
    429: ("操作过于频繁", "操作过于频繁，请稍后再试。"),
    500: ("系统繁忙", "系统暂时无法处理您的请求，请稍后重试。您的费款不会被重复扣缴。"),
}


def register(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_step("errors/error.html", title="页面已过期",
                           message="页面已过期或来源无法验证，请返回上一页刷新后重新提交。", status=400)

    @app.errorhandler(HTTPException)
    def http_error(error):
        title, message = MESSAGES.get(error.code, (error.name, "请返回重新操作。"))
        return render_step("errors/error.html", title=title, message=message, status=error.code)

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unhandled error on %s %s", request.method, request.path)
        title, message = MESSAGES[500]
        return render_step("errors/error.html", title=title, message=message, status=500)

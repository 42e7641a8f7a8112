"""The Flask extensions the app factory sets up (sbweb.create_app), here so that a view can
reach one (csrf.exempt) without importing the factory, which imports every view."""

from flask_compress import Compress
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
compress = Compress()
migrate = Migrate()

"""Switchboard: a self-hosted WhatsApp AI assistant. `create_app` reads as the table of contents."""

from pathlib import Path

from flask import Flask, render_template
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config, instance_files
from .extensions import csrf, db, login_manager, migrate


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the admin is reached over HTTPS."""

    def get_cookie_secure(self, app):
        from flask import request

        return app.config["SESSION_COOKIE_SECURE"] or request.is_secure


def create_app(test_config: dict | None = None) -> Flask:
    instance = config.instance_path()
    if test_config and test_config.get("INSTANCE_PATH"):
        instance = test_config["INSTANCE_PATH"]
    instance_files.make_private(instance)
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True)
    app.config.from_mapping(
        config.from_environment(instance),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=config.FORM_BODY_LIMIT,
    )
    if test_config:
        app.config.update(test_config)
    app.session_interface = SessionInterface()

    register_proxy_headers(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_globals(app)
    register_security_headers(app)
    return app


def register_proxy_headers(app: Flask) -> None:
    """Behind Caddy or nginx (TRUSTED_PROXIES=1): take the client's address, scheme and host
    from the proxy's X-Forwarded-* headers, so HTTPS is seen (Secure cookie, https webhook URL)
    and sign-in throttling counts the visitors' addresses, not the proxy's. Under `serve`,
    waitress drops these headers unless they come from TRUSTED_PROXY_ADDRESS (serving.py)."""
    if proxies := app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .health import bp as health_bp
    from .webhook import bp as webhook_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(health_bp)
    app.register_blueprint(webhook_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # an API: its requests carry a bearer token, not a session


def register_errorhandlers(app: Flask) -> None:
    def render_error(error):
        code = getattr(error, "code", 500)
        return render_template("error.html", code=code, error=error), code

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, render_error)


def register_commands(app: Flask) -> None:
    from .cli import register

    register(app)


def register_template_globals(app: Flask) -> None:
    from . import contacts
    from .display import hidden_chars, money, times
    from .troubleshooting import trouble

    app.jinja_env.globals.update(
        trouble=trouble,
        name_of=contacts.name_of,
        number_of=contacts.number_of,
        flask_command=config.FLASK_COMMAND,
        owner_zone=times.zone_name,
    )
    app.jinja_env.filters.update(
        visible=hidden_chars.visible,
        marked=hidden_chars.marked,
        money=money.money,
        when=times.when,
    )


HSTS = "max-age=31536000"  # a year; not includeSubDomains: the owner's other sites are theirs


def register_security_headers(app: Flask) -> None:
    from flask import request

    @app.after_request
    def add_headers(response):
        # Admin pages and the CSV hold customers' messages: no copy in a browser's or a
        # proxy's cache, where the next user of the machine would find it. Only the static
        # files (style, script, icon) may be kept.
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:  # over plain HTTP a browser ignores it anyway
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

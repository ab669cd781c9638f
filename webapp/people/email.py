"""E-mail alerts through the owner's mail server (SMTP, the standard library's smtplib)."""

import ipaddress
import smtplib
import socket
import ssl
from email.message import EmailMessage

TIMEOUT = 20  # seconds for the connection and each exchange with the mail server


class EmailFailed(Exception):
    """The mail could not be sent; the message says why in the owner's words, with the mail
    server's own answer, never the password."""


def addresses(listed: str) -> list[str]:
    """The addresses of a comma-separated list (`alert_email_to`)."""
    return [a.strip() for a in str(listed or "").split(",") if a.strip()]


def send(snap, to: list[str], subject: str, body: str) -> str:
    """Send one plain-text e-mail to the addresses `to` through the mail server of the
    settings; returns the server's last answer. Raises EmailFailed."""
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())[:200]  # a name's line breaks: no header
    message["From"] = str(snap["alert_email_from"])
    message["To"] = ", ".join(to)
    message.set_content(body)
    host, port, tls = str(snap["smtp_host"]).strip(), int(snap["smtp_port"]), str(snap["smtp_tls"])
    user = str(snap["smtp_user"] or "").strip()
    password = str(snap["smtp_password"] or "") if user else ""
    if user and tls == "none" and not _on_this_machine(host):
        raise EmailFailed(
            f"The password is not sent unencrypted to {host}: set Encryption to starttls or "
            "tls (none is only for a mail server on this machine)."
        )
    try:
        server = _connect(host, port, tls)
        try:
            if tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if user:
                server.login(user, password)
            refused = server.send_message(message)
            if refused:  # some addresses taken, these not
                raise EmailFailed(f"The mail server refused {', '.join(sorted(refused))}.")
            code, words = server.noop()
            return f"{code} {_text(words)}"
        finally:
            _quit(server)
    except EmailFailed:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailFailed(_explain(exc, host, port, user)) from None


def _explain(exc: Exception, host: str, port: int, user: str) -> str:
    """The failure in the owner's words, with the mail server's own answer."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"The mail server refused the login of {user}: {_said(exc)}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"The mail server refused the address {', '.join(sorted(exc.recipients))}."
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"The mail server refused the sender {exc.sender}: {_said(exc)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"The mail server does not support this: {exc}. Check Encryption."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"The mail server answered: {_said(exc)}"
    if isinstance(exc, ssl.SSLError):
        return f"The encrypted connection to {host}:{port} failed: {exc.reason or exc}."
    return f"Could not reach the mail server {host}:{port}: {_plain(exc)}."


def _on_this_machine(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _connect(host: str, port: int, tls: str) -> smtplib.SMTP:
    if not host:
        raise EmailFailed("No mail server is set (Settings, Email alerts).")
    if tls == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
    return smtplib.SMTP(host, port, timeout=TIMEOUT)


def _quit(server: smtplib.SMTP) -> None:
    try:
        server.quit()
    except (OSError, smtplib.SMTPException):
        server.close()


def _said(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _text(words) -> str:
    return words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)


def _plain(exc: Exception) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer within {TIMEOUT} seconds"
    return str(exc) or type(exc).__name__

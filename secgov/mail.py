"""E-mail over SMTP: the server's settings (SECGOV_SMTP_*), sending one message, and the words for
what went wrong.

The connection is encrypted unless the server is this machine: STARTTLS on 587 by default (a
server that does not offer it is refused, never used in clear text), implicit TLS with "tls", and
plain text only to a loopback relay with "none". The server's certificate is always verified and
its name checked, against SECGOV_SMTP_CA_FILE or the system's trusted certificates. Sending runs in
the background workers; the settings page shows `state()`. The password never leaves MailSettings:
not in its repr, the state, a log line or a MailFailed."""

from __future__ import annotations

import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid

from flask_babel import gettext

from secgov.codes import N_

log = logging.getLogger("secgov.mail")

SECURITIES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_TIMEOUT = 10.0

SECURITY_LABELS = {
    "starttls": N_("STARTTLS (required)"),
    "tls": N_("TLS from the first byte (implicit TLS)"),
    "none": N_("None (a relay on this machine only)"),
}

PROBLEMS = {
    "not_configured": N_("E-mail is not configured: set SECGOV_SMTP_HOST and SECGOV_SMTP_FROM."),
    "unreachable": N_("The mail server could not be reached (no answer, connection refused or unknown name)."),
    "starttls_unavailable": N_(
        "The mail server does not offer STARTTLS; the message was not sent, since it would have gone unencrypted."
    ),
    "tls_failed": N_("The mail server's certificate could not be verified, or the encrypted connection failed."),
    "auth_failed": N_("The mail server refused the user name or password."),
    "recipient_refused": N_("The mail server refused a recipient's address."),
    "bad_address": N_("An e-mail address is not valid."),
    "refused": N_("The mail server refused the message."),
}

# An address as it can go into an envelope: an ASCII local part without quoting (dot-atom) and a
# domain name of letters, digits and hyphens (a non-ASCII domain is turned into its IDNA form).
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class MailConfigError(ValueError):
    """A SECGOV_SMTP_* value the mail could not work with; the message names the variable."""


class MailFailed(Exception):
    """Sending failed: `problem` is one of PROBLEMS' codes, `detail` says more for the log (never a
    password). Only "unreachable" may go away by trying again later."""

    def __init__(self, problem: str, detail: str = ""):
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem = problem
        self.detail = detail

    @property
    def transient(self) -> bool:
        return self.problem == "unreachable"


def mail_problem(code: str) -> str:
    """The sentence, in the current language, for a MailFailed problem code."""
    return gettext(PROBLEMS.get(code, PROBLEMS["refused"]))


def is_loopback(host: str) -> bool:
    """Whether host names this machine without asking DNS: localhost, 127.0.0.0/8 or ::1."""
    name = host.strip().rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def normal_address(text: str) -> str:
    """An address ready for the envelope (its domain in IDNA form); ValueError when it is not one."""
    address = text.strip()
    local, at, domain = address.rpartition("@")
    if not at or len(address) > 254 or len(local) > 64 or not _LOCAL.fullmatch(local):
        raise ValueError(f"not an e-mail address: {text!r}")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not an e-mail address: {text!r}") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        raise ValueError(f"not an e-mail address: {text!r}")
    return f"{local}@{domain.lower()}"


@dataclass(frozen=True)
class MailSettings:
    """The mail server of this installation (SECGOV_SMTP_*); an empty host means no e-mail."""

    host: str = ""
    port: int = DEFAULT_PORTS["starttls"]
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = ""
    security: str = "starttls"
    ca_file: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_mapping(cls, config: Mapping) -> MailSettings:
        """The mail settings of an app's configuration; MailConfigError names a bad value."""
        host = str(config.get("SECGOV_SMTP_HOST") or "").strip()
        if host.startswith("[") and host.endswith("]"):  # an IPv6 address as URLs write it
            host = host[1:-1]
        security = str(config.get("SECGOV_SMTP_SECURITY") or "starttls").strip().lower()
        if security not in SECURITIES:
            raise MailConfigError(f"SECGOV_SMTP_SECURITY must be one of {', '.join(SECURITIES)}, not {security!r}")
        port = _number(config, "SECGOV_SMTP_PORT", DEFAULT_PORTS[security], whole=True)
        if not 1 <= port <= 65535:
            raise MailConfigError(f"SECGOV_SMTP_PORT must be from 1 to 65535, not {port}")
        timeout = _number(config, "SECGOV_SMTP_TIMEOUT", DEFAULT_TIMEOUT, whole=False)
        if not 0 < timeout <= 600:
            raise MailConfigError(f"SECGOV_SMTP_TIMEOUT must be more than 0 and at most 600 seconds, not {timeout}")
        username = str(config.get("SECGOV_SMTP_USERNAME") or "")
        password = str(config.get("SECGOV_SMTP_PASSWORD") or "")
        sender = str(config.get("SECGOV_SMTP_FROM") or "").strip()
        settings = cls(
            host=host,
            port=port,
            username=username,
            password=password,
            sender=sender,
            security=security,
            ca_file=str(config.get("SECGOV_SMTP_CA_FILE") or "").strip(),
            timeout=timeout,
        )
        if host:
            settings._check()
        return settings

    def _check(self) -> None:
        if any(c.isspace() or c in "/@" for c in self.host):
            raise MailConfigError(f"SECGOV_SMTP_HOST must be a host name or an address, not {self.host!r}")
        if self.security == "none" and not is_loopback(self.host):
            raise MailConfigError(
                "SECGOV_SMTP_SECURITY=none sends mail (and any password) unencrypted: it is allowed only "
                f"when SECGOV_SMTP_HOST is this machine (localhost, 127.0.0.1, ::1), not {self.host!r}"
            )
        if not self.sender:
            raise MailConfigError("SECGOV_SMTP_FROM (the sender's address) is required when SECGOV_SMTP_HOST is set")
        try:
            normal_address(self.sender)
        except ValueError:
            raise MailConfigError(f"SECGOV_SMTP_FROM is not an e-mail address: {self.sender!r}") from None
        if bool(self.username) != bool(self.password):
            raise MailConfigError("SECGOV_SMTP_USERNAME and SECGOV_SMTP_PASSWORD go together: set both or neither")


def _number(config: Mapping, name: str, default: float, *, whole: bool) -> int | float:
    value = config.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip()) if whole else float(str(value).strip())
    except ValueError:
        kind = "a whole number" if whole else "a number of seconds"
        raise MailConfigError(f"{name} must be {kind}, not {value!r}") from None
    if number != number:  # NaN
        raise MailConfigError(f"{name} must be a number of seconds, not {value!r}")
    return number


def check(config: Mapping) -> None:
    """Refuse, at start, mail settings that could not work, naming the variable: bad values, and
    a CA file that holds no certificates. The server itself is not asked."""
    try:
        settings = MailSettings.from_mapping(config)
        if settings.enabled and settings.ca_file:
            try:
                tls_context(settings)
            except (OSError, ssl.SSLError) as exc:
                raise MailConfigError(
                    f"SECGOV_SMTP_CA_FILE {settings.ca_file!r} could not be read as PEM certificates ({exc})"
                ) from None
    except MailConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None


def tls_context(settings: MailSettings) -> ssl.SSLContext:
    """Verify the server's certificate and name, against the CA file or the system's trust."""
    context = ssl.create_default_context(cafile=settings.ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(frozen=True)
class MailState:
    """What the settings page shows of the mail settings (never the password)."""

    enabled: bool
    server: str
    security: str
    security_label: str
    sender: str
    signs_in: bool
    own_ca: bool


def state(settings: MailSettings) -> MailState:
    """The mail settings as the settings page shows them; labels are msgids, translated there."""
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return MailState(
        enabled=settings.enabled,
        server=f"{host}:{settings.port}" if settings.enabled else "",
        security=settings.security,
        security_label=SECURITY_LABELS[settings.security],
        sender=settings.sender,
        signs_in=bool(settings.username),
        own_ca=bool(settings.ca_file),
    )


def build_message(settings: MailSettings, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    """A UTF-8 text message from the configured sender, with Date and Message-ID."""
    sender = normal_address(settings.sender)
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(subject.split())  # a line break in a header would start another
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # make_msgid() without a domain would ask DNS for this machine's name.
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    message.set_content(body, charset="utf-8")
    return message


def send(settings: MailSettings, to: Sequence[str], subject: str, body: str) -> None:
    """Send one text message to the recipients; MailFailed says why not.

    With several recipients, "recipient_refused" may come after the server took the message for
    the others: it is not worth sending again."""
    if not settings.enabled or not settings.sender:
        raise MailFailed("not_configured")
    if isinstance(to, str):
        to = [to]
    try:
        recipients = [normal_address(address) for address in to]
    except ValueError as exc:
        raise MailFailed("bad_address", str(exc)) from None
    if not recipients:
        raise MailFailed("bad_address", "no recipient")
    message = build_message(settings, recipients, subject, body)
    try:
        with _connect(settings) as smtp:
            if settings.username:
                try:
                    smtp.login(settings.username, settings.password)
                except smtplib.SMTPNotSupportedError:
                    raise MailFailed("auth_failed", "the server offers no AUTH") from None
            refused = smtp.send_message(message, from_addr=normal_address(settings.sender), to_addrs=recipients)
    except MailFailed as exc:
        log.warning(
            "mail to %d recipient(s) through %s:%d not sent: %s", len(recipients), settings.host, settings.port, exc
        )
        raise
    except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
        failure = _failure(exc)
        log.warning(
            "mail to %d recipient(s) through %s:%d not sent: %s", len(recipients), settings.host, settings.port, failure
        )
        raise failure from None
    if refused:
        failure = MailFailed("recipient_refused", ", ".join(f"{a} ({code})" for a, (code, _m) in refused.items()))
        log.warning("mail through %s:%d partly refused: %s", settings.host, settings.port, failure)
        raise failure
    log.info("mail sent to %d recipient(s) through %s:%d", len(recipients), settings.host, settings.port)


def _connect(settings: MailSettings) -> smtplib.SMTP:
    """A connection that is encrypted (or to loopback with "none"), greeted with EHLO."""
    # Our EHLO name: smtplib would otherwise ask DNS for this machine's full name.
    local_name = socket.gethostname() or "localhost"
    context = None
    if settings.security != "none":
        try:
            context = tls_context(settings)
        except OSError as exc:  # the CA file went missing, or holds no certificates, since the start
            raise MailFailed("tls_failed", f"SECGOV_SMTP_CA_FILE: {type(exc).__name__}: {exc}") from None
    if settings.security == "tls":
        return smtplib.SMTP_SSL(
            settings.host, settings.port, local_hostname=local_name, timeout=settings.timeout, context=context
        )
    smtp = smtplib.SMTP(settings.host, settings.port, local_hostname=local_name, timeout=settings.timeout)
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise MailFailed("starttls_unavailable", f"{settings.host}:{settings.port} offers no STARTTLS")
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def _failure(exc: Exception) -> MailFailed:
    """The problem code of an exception raised while talking to the server."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return MailFailed("tls_failed", detail)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailFailed("auth_failed", detail)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return MailFailed("recipient_refused", ", ".join(f"{a} ({code})" for a, (code, _m) in exc.recipients.items()))
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "STARTTLS" in str(exc).upper():
        return MailFailed("starttls_unavailable", detail)
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | OSError):
        return MailFailed("unreachable", detail)
    return MailFailed("refused", detail)

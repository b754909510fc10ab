"""Mail servers for tests, on 127.0.0.1: aiosmtpd with STARTTLS required (a certificate for
localhost and 127.0.0.1 from a CA made for the run, optional AUTH), one with implicit TLS, and
one that offers no STARTTLS at all. Each keeps what it received, and how it was received."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USERNAME = "secgov-mailer"
PASSWORD = "mail password not for production"


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- certificates ----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_ids(builder: x509.CertificateBuilder, key, issuer_key) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)


def make_ca(folder: Path, name: str = "SecGov test CA") -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate authority for one run: its PEM file, certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    )  # fmt: skip
    certificate = _key_ids(builder, key, key).sign(key, hashes.SHA256())
    path = folder / f"{name.replace(' ', '-')}.pem"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path, certificate, key


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_server_certificate(
    folder: Path, ca: x509.Certificate, ca_key, names: Sequence[str] = ("localhost", "127.0.0.1")
) -> tuple[Path, Path]:
    """A server certificate for names (host names and addresses), signed by ca: (certificate, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([_alt_name(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    certificate = _key_ids(builder, key, ca_key).sign(ca_key, hashes.SHA256())
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Received:
    """One message as the server took it: envelope, parsed message, and whether TLS and AUTH were on."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Handler:
    """aiosmtpd's handler: keeps every message, and every AUTH attempt (login names only); refuses
    the recipients named in `refuse`."""

    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                message=message_from_bytes(envelope.original_content, policy=policy.default),
                # session.ssl is set by STARTTLS; a connection that began in TLS has an SSL transport
                tls=session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.logins.append(auth_data.login.decode())
        ok = auth_data.login.decode() == USERNAME and auth_data.password.decode() == PASSWORD
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    """A running test server: where it is, the CA that vouches for it, what it received."""

    host: str
    port: int
    ca_file: Path | None
    handler: Handler
    security: str = "starttls"
    with_auth: bool = False

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def logins(self) -> list[str]:
        return self.handler.logins

    def config(self, **overrides) -> dict:
        """The SECGOV_SMTP_* keys of an app configuration that sends through this server."""
        values = {
            "SECGOV_SMTP_HOST": self.host,
            "SECGOV_SMTP_PORT": self.port,
            "SECGOV_SMTP_SECURITY": self.security,
            "SECGOV_SMTP_FROM": "secgov@city.example",
            "SECGOV_SMTP_CA_FILE": str(self.ca_file or ""),
            "SECGOV_SMTP_USERNAME": USERNAME if self.with_auth else "",
            "SECGOV_SMTP_PASSWORD": PASSWORD if self.with_auth else "",
            "SECGOV_SMTP_TIMEOUT": 5,
        }
        values.update(overrides)
        return values


def _tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@contextmanager
def running(
    folder: Path, *, security: str = "starttls", auth: bool = False, names: Sequence[str] = ("localhost", "127.0.0.1")
) -> Iterator[SmtpServer]:
    """A server on 127.0.0.1 while the block runs. security: "starttls" (required), "tls"
    (implicit) or "none" (no STARTTLS offered; AUTH, if on, is offered in clear text, so that a
    client that fell back would be seen giving its password). names: its certificate's."""
    handler = Handler()
    server = SmtpServer("127.0.0.1", free_port(), None, handler, security, auth)
    smtp: dict = {"authenticator": handler.authenticate} if auth else {}
    if security == "none":
        smtp["auth_require_tls"] = False
    else:
        ca_file, ca, ca_key = make_ca(folder)
        context = _tls_context(*make_server_certificate(folder, ca, ca_key, names))
        server.ca_file = ca_file
        if security == "tls":
            smtp["ssl_context"] = context
        else:
            smtp.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    # server_hostname: our EHLO name, else aiosmtpd asks DNS for this machine's full name.
    controller = Controller(handler, hostname=server.host, port=server.port, server_hostname="localhost", **smtp)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(tmp_path) -> Iterator[SmtpServer]:
    """A mail server on 127.0.0.1 that requires STARTTLS (no AUTH)."""
    with running(tmp_path) as server:
        yield server


@pytest.fixture
def smtp_auth_server(tmp_path) -> Iterator[SmtpServer]:
    """A mail server on 127.0.0.1 that requires STARTTLS and offers AUTH after it."""
    with running(tmp_path, auth=True) as server:
        yield server


@pytest.fixture
def smtp_tls_server(tmp_path) -> Iterator[SmtpServer]:
    """A mail server on 127.0.0.1 that speaks TLS from the first byte (no AUTH)."""
    with running(tmp_path, security="tls") as server:
        yield server


@pytest.fixture
def smtp_plain_server(tmp_path) -> Iterator[SmtpServer]:
    """A mail server on 127.0.0.1 that offers no STARTTLS, and AUTH in clear text."""
    with running(tmp_path, security="none", auth=True) as server:
        yield server

"""E-mail: a message reaches a real SMTP server on 127.0.0.1 over STARTTLS (or implicit TLS), is
never sent in clear text to a server that does not offer STARTTLS, and every failure comes back
as its problem code; the settings are checked at start; the settings page shows them."""

from __future__ import annotations

import logging
import socket

import pytest
from helpers import DATA_KEY, login
from smtp_support import (
    PASSWORD,
    free_port,
    make_ca,
    running,
    smtp_auth_server,
    smtp_plain_server,
    smtp_server,
    smtp_tls_server,
)

from secgov import mail
from secgov.app import create_app
from secgov.authz import roles
from secgov.config import from_environment
from secgov.mail import MailFailed, MailSettings

__all__ = ["smtp_auth_server", "smtp_plain_server", "smtp_server", "smtp_tls_server"]  # fixtures, used by name

SUBJECT = "网络安全周报 — weekly report"
BODY = "您好，\n本周新增 3 项高风险漏洞。\nHello, three new high-risk findings this week.\n"


def settings_of(server, **overrides) -> MailSettings:
    return MailSettings.from_mapping(server.config(**overrides))


def failure(settings: MailSettings, to=("officer@city.example",)) -> MailFailed:
    with pytest.raises(MailFailed) as caught:
        mail.send(settings, to, SUBJECT, BODY)
    return caught.value


# --- delivery --------------------------------------------------------------------------------


@pytest.mark.nodb
def test_a_message_arrives_over_starttls_in_utf8(smtp_server):
    mail.send(settings_of(smtp_server), ["officer@city.example", "leader@city.example"], SUBJECT, BODY)

    [received] = smtp_server.messages
    assert received.tls, "the message went before STARTTLS"
    assert received.mail_from == "secgov@city.example"
    assert received.rcpt_tos == ["officer@city.example", "leader@city.example"]
    message = received.message
    assert message["Subject"] == SUBJECT
    assert message["From"] == "secgov@city.example"
    assert message["To"] == "officer@city.example, leader@city.example"
    assert message["Date"] and message["Message-ID"].endswith("@city.example>")
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().replace("\r\n", "\n") == BODY


@pytest.mark.nodb
def test_a_message_arrives_after_signing_in_over_starttls(smtp_auth_server):
    mail.send(settings_of(smtp_auth_server), ["officer@city.example"], SUBJECT, BODY)

    [received] = smtp_auth_server.messages
    assert received.tls and received.authenticated
    assert smtp_auth_server.logins == ["secgov-mailer"]


@pytest.mark.nodb
def test_a_message_arrives_over_implicit_tls(smtp_tls_server):
    mail.send(settings_of(smtp_tls_server), ["officer@city.example"], SUBJECT, BODY)

    [received] = smtp_tls_server.messages
    assert received.tls
    assert received.message["Subject"] == SUBJECT


@pytest.mark.nodb
def test_the_server_is_verified_by_its_name(tmp_path):
    """A certificate of the right CA, for another name than the one connected to, is refused."""
    with running(tmp_path, names=("mail.city.example",)) as server:
        assert failure(settings_of(server)).problem == "tls_failed"
        assert server.messages == []
    with running(tmp_path, names=("localhost",)) as server:
        assert failure(settings_of(server)).problem == "tls_failed"  # 127.0.0.1 is not named
        mail.send(settings_of(server, SECGOV_SMTP_HOST="localhost"), ["a@city.example"], SUBJECT, BODY)
        assert len(server.messages) == 1


# --- failures --------------------------------------------------------------------------------


@pytest.mark.nodb
def test_a_server_without_starttls_gets_nothing_in_clear_text(smtp_plain_server, caplog):
    """The server offers AUTH in clear text: a client that fell back would hand it the password."""
    settings = settings_of(smtp_plain_server, SECGOV_SMTP_SECURITY="starttls")
    assert settings.username and settings.password

    assert failure(settings).problem == "starttls_unavailable"
    assert smtp_plain_server.messages == []
    assert smtp_plain_server.logins == []


@pytest.mark.nodb
def test_the_plain_server_would_take_mail_in_clear_text(smtp_plain_server):
    """The guard of the test above: its server does take a message sent without TLS (to
    loopback with "none", which is allowed there), AUTH included."""
    mail.send(settings_of(smtp_plain_server, SECGOV_SMTP_SECURITY="none"), ["a@city.example"], SUBJECT, BODY)
    [received] = smtp_plain_server.messages
    assert not received.tls and received.authenticated


@pytest.mark.nodb
def test_nothing_listening_is_unreachable():
    settings = MailSettings.from_mapping(
        {"SECGOV_SMTP_HOST": "127.0.0.1", "SECGOV_SMTP_PORT": free_port(), "SECGOV_SMTP_FROM": "secgov@city.example"}
    )
    problem = failure(settings)
    assert problem.problem == "unreachable" and problem.transient


@pytest.mark.nodb
def test_a_server_that_never_answers_is_unreachable_after_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the connection opens, the greeting never comes
        settings = MailSettings.from_mapping(
            {
                "SECGOV_SMTP_HOST": "127.0.0.1",
                "SECGOV_SMTP_PORT": silent.getsockname()[1],
                "SECGOV_SMTP_FROM": "secgov@city.example",
                "SECGOV_SMTP_TIMEOUT": "0.3",
            }
        )
        assert failure(settings).problem == "unreachable"


@pytest.mark.nodb
def test_a_wrong_password_is_auth_failed_and_never_logged(smtp_auth_server, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong password 7f3a"
    problem = failure(settings_of(smtp_auth_server, SECGOV_SMTP_PASSWORD=wrong))

    assert problem.problem == "auth_failed"
    assert smtp_auth_server.messages == []
    assert wrong not in caplog.text and wrong not in str(problem)
    mail.send(settings_of(smtp_auth_server), ["a@city.example"], SUBJECT, BODY)
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(settings_of(smtp_auth_server))


@pytest.mark.nodb
def test_a_certificate_from_another_ca_is_tls_failed(smtp_server, tmp_path):
    other_ca, _cert, _key = make_ca(tmp_path, "Another CA")
    problem = failure(settings_of(smtp_server, SECGOV_SMTP_CA_FILE=str(other_ca)))

    assert problem.problem == "tls_failed"
    assert smtp_server.messages == []


@pytest.mark.nodb
def test_a_ca_file_gone_since_the_start_is_tls_failed(smtp_server, tmp_path):
    settings = settings_of(smtp_server, SECGOV_SMTP_CA_FILE=str(tmp_path / "gone.pem"))
    assert failure(settings).problem == "tls_failed"


@pytest.mark.nodb
def test_the_system_trust_does_not_know_the_test_ca(smtp_server):
    assert failure(settings_of(smtp_server, SECGOV_SMTP_CA_FILE="")).problem == "tls_failed"


@pytest.mark.nodb
@pytest.mark.parametrize(
    "address",
    [
        "not an address",
        "officer@",
        "@city.example",
        "officer@city",
        "officer@city.example\r\nBcc: all@city.example",
        "officer@city..example",
        "a b@city.example",
        "officer@-city.example",
        "",
    ],
)
def test_a_bad_address_is_refused_before_connecting(smtp_server, address):
    assert failure(settings_of(smtp_server), [address]).problem == "bad_address"
    assert failure(settings_of(smtp_server), ["ok@city.example", address]).problem == "bad_address"
    assert smtp_server.messages == []


@pytest.mark.nodb
def test_no_recipient_is_a_bad_address(smtp_server):
    assert failure(settings_of(smtp_server), []).problem == "bad_address"


@pytest.mark.nodb
def test_a_refused_recipient_is_recipient_refused(smtp_server):
    smtp_server.handler.refuse.add("gone@city.example")
    problem = failure(settings_of(smtp_server), ["gone@city.example"])
    assert problem.problem == "recipient_refused" and "gone@city.example" in problem.detail
    assert smtp_server.messages == []

    problem = failure(settings_of(smtp_server), ["officer@city.example", "gone@city.example"])
    assert problem.problem == "recipient_refused" and not problem.transient
    [received] = smtp_server.messages  # the others did get it
    assert received.rcpt_tos == ["officer@city.example"]


@pytest.mark.nodb
def test_no_host_is_not_configured(monkeypatch):
    monkeypatch.delenv("SECGOV_SMTP_HOST", raising=False)
    assert failure(MailSettings.from_mapping({})).problem == "not_configured"
    assert failure(MailSettings.from_mapping(from_environment())).problem == "not_configured"


@pytest.mark.nodb
def test_every_problem_has_a_sentence():
    assert set(mail.PROBLEMS) >= {
        "not_configured", "unreachable", "starttls_unavailable", "tls_failed", "auth_failed", "recipient_refused", "bad_address",
    }  # fmt: skip
    sentences = {code: mail.mail_problem(code) for code in mail.PROBLEMS}
    assert len(set(sentences.values())) == len(sentences)
    assert all(sentence.endswith(".") for sentence in sentences.values())


# --- settings --------------------------------------------------------------------------------


def app_config(**smtp) -> dict:
    return {"TESTING": True, "SECRET_KEY": "x" * 32, "SECGOV_DATA_KEYS": DATA_KEY, "DATABASE_URL": "sqlite://", **smtp}


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("smtp", "named"),
    [
        ({"SECGOV_SMTP_PORT": "smtp"}, "SECGOV_SMTP_PORT must be a whole number"),
        ({"SECGOV_SMTP_PORT": "70000"}, "SECGOV_SMTP_PORT must be from 1 to 65535"),
        ({"SECGOV_SMTP_TIMEOUT": "soon"}, "SECGOV_SMTP_TIMEOUT must be a number"),
        ({"SECGOV_SMTP_TIMEOUT": "0"}, "SECGOV_SMTP_TIMEOUT must be more than 0"),
        ({"SECGOV_SMTP_SECURITY": "ssl"}, "SECGOV_SMTP_SECURITY must be one of starttls, tls, none"),
        ({"SECGOV_SMTP_HOST": "mail.city.example", "SECGOV_SMTP_SECURITY": "none"}, "allowed only"),
        ({"SECGOV_SMTP_HOST": "10.0.0.25", "SECGOV_SMTP_SECURITY": "none"}, "allowed only"),
        ({"SECGOV_SMTP_HOST": "mail.city.example", "SECGOV_SMTP_FROM": ""}, "SECGOV_SMTP_FROM"),
        ({"SECGOV_SMTP_HOST": "mail.city.example", "SECGOV_SMTP_FROM": "secgov"}, "SECGOV_SMTP_FROM is not"),
        ({"SECGOV_SMTP_HOST": "mail.city.example", "SECGOV_SMTP_PASSWORD": "p"}, "set both or neither"),
        (
            {"SECGOV_SMTP_HOST": "mail.city.example", "SECGOV_SMTP_CA_FILE": "/nonexistent/ca.pem"},
            "SECGOV_SMTP_CA_FILE",
        ),
    ],
)
def test_bad_settings_stop_the_app_naming_the_variable(smtp, named):
    values = {"SECGOV_SMTP_FROM": "secgov@city.example", **smtp}
    with pytest.raises(SystemExit) as stopped:
        create_app(app_config(**values))
    assert str(stopped.value).startswith("configuration error: ") and named in str(stopped.value)


@pytest.mark.nodb
def test_the_settings_come_from_the_environment(monkeypatch, tmp_path):
    ca_file, _cert, _key = make_ca(tmp_path)
    for name, value in {
        "SECGOV_SMTP_HOST": "mail.city.example",
        "SECGOV_SMTP_SECURITY": "tls",
        "SECGOV_SMTP_USERNAME": "mailer",
        "SECGOV_SMTP_PASSWORD": "s3cret",
        "SECGOV_SMTP_FROM": "secgov@city.example",
        "SECGOV_SMTP_CA_FILE": str(ca_file),
        "SECGOV_SMTP_TIMEOUT": "2.5",
    }.items():
        monkeypatch.setenv(name, value)
    app = create_app(app_config())
    app.extensions["secgov_engine"].dispose()
    settings = MailSettings.from_mapping(app.config)
    assert settings == MailSettings(
        host="mail.city.example", port=465, username="mailer", password="s3cret", sender="secgov@city.example",
        security="tls", ca_file=str(ca_file), timeout=2.5,
    )  # fmt: skip
    monkeypatch.setenv("SECGOV_SMTP_PORT", "twenty-five")
    with pytest.raises(SystemExit, match="SECGOV_SMTP_PORT must be a whole number"):
        create_app(app_config())


@pytest.mark.nodb
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]"])
def test_no_security_is_allowed_on_loopback(host):
    settings = MailSettings.from_mapping(
        {"SECGOV_SMTP_HOST": host, "SECGOV_SMTP_SECURITY": "none", "SECGOV_SMTP_FROM": "secgov@city.example"}
    )
    assert settings.port == 25 and settings.security == "none"


@pytest.mark.nodb
def test_the_state_shows_no_password(smtp_auth_server):
    shown = mail.state(settings_of(smtp_auth_server))
    assert shown.enabled and shown.server == f"127.0.0.1:{smtp_auth_server.port}"
    assert shown.security == "starttls" and shown.sender == "secgov@city.example" and shown.signs_in and shown.own_ca
    assert PASSWORD not in repr(shown)
    assert not mail.state(MailSettings.from_mapping({})).enabled


# --- the settings page -----------------------------------------------------------------------


@pytest.fixture
def jobs_start(app):
    """The endpoint the test message is posted to: a stand-in until the background jobs exist."""
    if "jobs.start" not in app.view_functions:

        @roles("admin")
        def start():
            return ""

        app.add_url_rule("/test-jobs/start", endpoint="jobs.start", view_func=start, methods=["POST"])


def test_the_settings_page_shows_the_mail_card(app, client, make_user, session, smtp_server, jobs_start):
    admin = make_user("city.admin", roles=("admin",), department="city", mfa=True)
    admin.email = "city.admin@city.example"
    session.add(admin)
    session.commit()
    login(client, admin)

    page = client.get("/admin/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="mail"' in page and "Outgoing e-mail" in page and "Not configured" in page

    app.config.update(smtp_server.config())
    page = client.get("/admin/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Outgoing e-mail" in page and "Configured" in page and "Not configured" not in page
    assert f"127.0.0.1:{smtp_server.port}" in page and "secgov@city.example" in page
    assert "STARTTLS (required)" in page
    assert 'name="kind" value="mail.test"' in page
    assert 'name="param.lang" value="en"' in page
    assert 'name="param.to" type="email" value="city.admin@city.example"' in page
    assert "Send a test message" in page

    page = client.get("/admin/settings", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(as_text=True)
    assert "电子邮件发送" in page and "已配置" in page and "STARTTLS（必须）" in page
    assert 'name="param.lang" value="zh"' in page
    assert "发送测试邮件" in page


def test_a_bureau_admin_sees_the_mail_card_without_the_test_form(app, client, make_user, smtp_server, jobs_start):
    app.config.update(smtp_server.config())
    make_user("city.admin", roles=("admin",), department="city")
    bureau = make_user("transport.admin", roles=("admin",), department="a", mfa=True)
    login(client, bureau)
    page = client.get("/admin/settings", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Outgoing e-mail" in page and f"127.0.0.1:{smtp_server.port}" in page
    assert 'name="param.to"' not in page

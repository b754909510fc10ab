"""Translations: the Chinese catalog covers every string of the code, and both languages reach
the pages (default, browser, the user's choice) and the API (Accept-Language).

A string added without a Chinese translation fails test_every_string_is_translated_into_chinese:
run `make extract-messages`, translate the new entries in
secgov/translations/zh/LC_MESSAGES/messages.po and drop their fuzzy flags.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from helpers import PASSWORD, csrf_token, totp_now

from secgov.config import from_environment

ROOT = Path(__file__).resolve().parent.parent
BABEL_CFG = ROOT / "babel.cfg"
PO = ROOT / "secgov" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# The keywords of `make extract-messages`: babel's defaults plus -k _l -k lazy_gettext.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}

# A printf conversion as Python's % operator reads it: %(name)s, %d, %5.2f, %% ...
PLACEHOLDER = re.compile(r"%(?:\((?P<name>\w+)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<type>[diouxXeEfFgGcrsa%])")
CJK = re.compile(r"[\u4e00-\u9fff]")

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def _compile(po: Path, mo: Path) -> None:
    """What `pybabel compile` does, written atomically (parallel workers may read the file)."""
    with po.open("rb") as fh:
        catalog = read_po(fh, locale="zh")
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.chmod(tmp, 0o644)  # as pybabel would leave it (mkstemp makes it private)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@pytest.fixture(scope="module", autouse=True)
def compiled_catalog() -> Path:
    """The .mo is built by the Makefile and git-ignored: build it here when missing or stale."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        _compile(PO, MO)
    return MO


@functools.cache
def zh_catalog() -> Catalog:
    with PO.open("rb") as fh:
        return read_po(fh, locale="zh")


def zh(english: str, context: str | None = None, **variables) -> str:
    """The Chinese text of an English msgid, as the catalog has it, with variables filled in."""
    message = zh_catalog().get(english, context=context)
    assert message is not None and message.string, f"no Chinese translation of {english!r}"
    return message.string % variables if variables else message.string


def fresh_extraction() -> dict[tuple[str | None, str | tuple[str, ...]], list[str]]:
    """Every msgid in the code now, as `make extract-messages` finds it: (context, id) -> places."""
    with BABEL_CFG.open() as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(BABEL_CFG))
    found: dict[tuple[str | None, str | tuple[str, ...]], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, tuple) and not message[0]:
            continue
        if not message:
            continue
        found.setdefault((context, message), []).append(f"{filename}:{lineno}")
    return found


def placeholders(text: str) -> tuple[frozenset[tuple[str, str]], tuple[str, ...]]:
    """The named placeholders of text (as a set) and its positional ones (in order, %% included)."""
    named, positional = set(), []
    for match in PLACEHOLDER.finditer(text):
        if match["name"]:
            named.add((match["name"], match["type"]))
        else:
            positional.append(match["type"])
    return frozenset(named), tuple(positional)


# --- the catalog -----------------------------------------------------------------------------


def test_the_extraction_finds_the_code_strings():
    """A guard for the test below: the extraction reads Python files and templates alike."""
    found = fresh_extraction()
    places = [place for places in found.values() for place in places]
    assert len(found) > 100
    assert any(p.startswith("secgov/") and ".py:" in p for p in places)
    assert any(p.startswith("templates/") and p.split(":")[0].endswith(".html") for p in places)
    assert (None, "Sign in") in found
    assert ("one-time password", "Code") in found


def test_every_string_is_translated_into_chinese():
    """Every msgid of a fresh extraction has a non-empty, non-fuzzy Chinese msgstr."""
    catalog = zh_catalog()
    problems = []
    for (context, msgid), places in sorted(fresh_extraction().items(), key=str):
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        message = catalog.get(singular, context=context)
        where = f"{msgid!r} ({places[0]})"
        if message is None:
            problems.append(f"missing from messages.po: {where}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {where}")
        elif isinstance(msgid, tuple) != message.pluralizable:
            problems.append(f"plural in one place and not the other: {where}")
        elif message.pluralizable:
            forms = list(message.string)
            if len(forms) != catalog.num_plurals or not all(forms):
                problems.append(f"incomplete plural forms: {where}")
        elif not message.string:
            problems.append(f"untranslated: {where}")
    assert not problems, "run `make extract-messages` and translate:\n" + "\n".join(problems)


# One word for one thing in the Chinese interface: the term the interface uses, and the words it
# must not use for the same thing (a reader who meets both wonders whether they differ).
GLOSSARY = {"厂商": ("供应商",)}


@pytest.mark.nodb
def test_the_chinese_interface_uses_one_word_for_one_thing():
    catalog = zh_catalog()
    problems = []
    for message in catalog:
        if not message.id:
            continue
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        for term, others in GLOSSARY.items():
            for other in others:
                if any(other in text for text in texts):
                    problems.append(f"{message.id!r}: {other!r} where the interface says {term!r}")
    assert not problems, "\n".join(problems)


def test_catalog_header_and_entries_are_not_fuzzy():
    catalog = zh_catalog()
    assert str(catalog.locale) == "zh"
    assert catalog.num_plurals == 1  # Chinese has one plural form
    assert not catalog.fuzzy
    assert [m.id for m in catalog if m.id and m.fuzzy] == []


def test_placeholders_are_kept_in_every_translation():
    problems = []
    for message in zh_catalog():
        if not message.id or not message.string:
            continue
        if message.pluralizable:
            # Chinese has a single form: it stands for the plural and keeps its placeholders.
            pairs = [(message.id[-1], form) for form in message.string]
        else:
            pairs = [(message.id, message.string)]
        for source, translation in pairs:
            if placeholders(source) != placeholders(translation):
                problems.append(f"{source!r} -> {translation!r}")
    assert not problems, "placeholders differ:\n" + "\n".join(problems)


def test_babel_checkers_accept_the_catalog():
    """Babel's own checks: python-format compatibility and the number of plural forms."""
    errors = [(message.id, [str(e) for e in errs]) for message, errs in zh_catalog().check()]
    assert errors == []


def test_compiled_catalog_is_current(compiled_catalog):
    assert compiled_catalog.exists()
    assert compiled_catalog.stat().st_mtime >= PO.stat().st_mtime


def test_compile_writes_a_loadable_catalog(tmp_path):
    from babel.support import Translations

    mo = tmp_path / "messages.mo"
    _compile(PO, mo)
    with mo.open("rb") as fh:
        translations = Translations(fh)
    assert translations.gettext("Sign in") == "登录"
    assert translations.pgettext("one-time password", "Code") == "验证码"
    assert translations.pgettext("person", "Name") == "姓名"


# --- web pages -------------------------------------------------------------------------------


def test_chinese_is_the_shipped_default(monkeypatch):
    monkeypatch.delenv("SECGOV_DEFAULT_LANGUAGE", raising=False)
    assert from_environment()["BABEL_DEFAULT_LOCALE"] == "zh"


def test_login_page_is_chinese_by_default(app, client):
    app.config["BABEL_DEFAULT_LOCALE"] = "zh"  # the shipped default, whatever this run's environment
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "<h1>登录</h1>" in html
    assert "用户名" in html and "密码" in html
    assert "Sign in" not in html
    assert ">English</button>" in html  # the switch offers the other language


def test_login_page_follows_the_browser(client):
    assert "<h1>登录</h1>" in client.get("/login", headers=ZH).get_data(as_text=True)
    html = client.get("/login", headers=EN).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Sign in</h1>" in html
    assert "User name" in html
    assert "登录" not in html


def _switch(client, lang: str):
    token = csrf_token(client, "/login")
    return client.post("/language", data={"lang": lang, "next": "/login", "csrf_token": token})


def test_language_switch_changes_the_pages(app, client):
    app.config["BABEL_DEFAULT_LOCALE"] = "zh"
    assert "<h1>登录</h1>" in client.get("/login").get_data(as_text=True)

    response = _switch(client, "en")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    html = client.get("/login").get_data(as_text=True)
    assert "<h1>Sign in</h1>" in html
    assert "登录" not in html
    # The choice in the session beats the browser's preference.
    assert "<h1>Sign in</h1>" in client.get("/login", headers=ZH).get_data(as_text=True)

    _switch(client, "zh")
    html = client.get("/login", headers=EN).get_data(as_text=True)
    assert "<h1>登录</h1>" in html
    assert "Sign in" not in html


def test_language_picked_before_signing_in_is_kept(client, make_user):
    """English picked on the sign-in page stays for the code step and after, for a user who has
    stored no language of their own."""
    user = make_user("alice", mfa=True)
    _switch(client, "en")
    data = {"username": "alice", "password": PASSWORD, "csrf_token": csrf_token(client, "/login")}
    assert client.post("/login", data=data, headers=ZH).headers["Location"].endswith("/login/mfa")
    assert '<html lang="en">' in client.get("/login/mfa", headers=ZH).get_data(as_text=True)
    data = {"code": totp_now(user.totp_secret), "csrf_token": csrf_token(client, "/login/mfa")}
    assert client.post("/login/mfa", data=data, headers=ZH).status_code == 302
    assert '<html lang="en">' in client.get("/", headers=ZH).get_data(as_text=True)


def test_unknown_language_is_refused_in_the_current_language(client):
    token = csrf_token(client, "/login")
    client.post("/language", data={"lang": "xx", "next": "/login", "csrf_token": token}, headers=ZH)
    assert zh("Unknown language.") in client.get("/login", headers=ZH).get_data(as_text=True)


def test_messages_from_python_code_are_translated(client, make_user):
    make_user("alice")
    data = {"username": "alice", "password": "not the password", "csrf_token": csrf_token(client, "/login")}
    response = client.post("/login", data=data, headers=ZH)
    assert response.status_code == 401
    assert zh("Wrong user name or password.") in response.get_data(as_text=True)

    data["csrf_token"] = csrf_token(client, "/login")
    response = client.post("/login", data=data, headers=EN)
    assert "Wrong user name or password." in response.get_data(as_text=True)


def test_signed_in_pages_use_context_specific_words(client, make_user):
    """'Code' is 验证码 for the one-time password, 'Name' is 姓名 for a person."""
    from helpers import login

    make_user("root", roles=("admin",))
    user = make_user("bob", roles=("officer",))
    assert login(client, user).status_code == 302
    html = client.get("/account", headers=ZH).get_data(as_text=True)
    assert "<h2>修改密码</h2>" in html
    assert "<dt>姓名</dt>" in html
    assert "<th>名称</th>" in html  # the tokens' names
    assert zh("Code", context="one-time password") in client.get("/account/mfa", headers=ZH).get_data(as_text=True)


def test_audit_chain_problems_are_translated(app):
    from secgov.audit import Verification
    from secgov.views.audit_log import problem_label

    missing = Verification(False, 6, 7, "missing")
    with app.test_request_context("/audit/verify", headers=ZH):
        assert problem_label(missing) == zh("Entry %(seq)d is missing.", seq=7)
        assert problem_label(Verification(False, 3, 4, "hash_mismatch")) == zh("The content does not match its hash.")
        assert problem_label(Verification(False, 11, 12, "ends_before_head")) == zh(
            "The chain ends before the recorded head %(seq)d.", seq=12
        )
    with app.test_request_context("/audit/verify", headers=EN):
        assert problem_label(missing) == "Entry 7 is missing."
    assert missing.reason == "entry 7 is missing"  # the CLI's and the API's wording


# --- API -------------------------------------------------------------------------------------


def _error(response) -> dict:
    assert response.is_json, response.get_data(as_text=True)
    return response.get_json()["error"]


def test_api_error_without_token_follows_accept_language(client):
    response = client.get("/api/v1/departments", headers=ZH)
    assert response.status_code == 401
    error = _error(response)
    assert error["code"] == "unauthorized"
    assert error["message"] == zh("Send an API token: Authorization: Bearer <token>.")
    assert CJK.search(error["message"])

    response = client.get("/api/v1/departments", headers=EN)
    assert response.status_code == 401
    assert _error(response)["message"] == "Send an API token: Authorization: Bearer <token>."


def test_api_error_with_a_wrong_token_follows_accept_language(client):
    bearer = {"Authorization": "Bearer sgv_not-a-real-token"}
    error = _error(client.get("/api/v1/departments", headers={**bearer, **ZH}))
    assert error["message"] == zh("The API token is missing, wrong or revoked.")
    error = _error(client.get("/api/v1/departments", headers={**bearer, **EN}))
    assert error["message"] == "The API token is missing, wrong or revoked."


def test_api_ignores_the_web_language_choice(client):
    """The API has no cookies: a language picked on the web pages does not apply to it."""
    _switch(client, "en")
    error = _error(client.get("/api/v1/no-such-endpoint", headers=ZH))
    assert error["message"] == zh("Not found.")


def test_api_validation_details_are_translated(client, make_user, api_token):
    token = api_token(make_user("root", roles=("admin",)))
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/departments", json={"code": "x"}, headers={**headers, **ZH})
    assert response.status_code == 422
    error = _error(response)
    assert error["message"] == zh("The input is not valid.")
    details = {d["field"]: d["message"] for d in error["details"]}
    assert details["name"] == zh("This field is required.")
    assert all(CJK.search(message) for message in details.values())

    response = client.post("/api/v1/departments", json={"code": "x"}, headers={**headers, **EN})
    error = _error(response)
    assert error["message"] == "The input is not valid."
    assert {d["field"]: d["message"] for d in error["details"]}["name"] == "This field is required."


def test_api_prefers_the_users_stored_language(client, session, make_user, api_token):
    user = make_user("root", roles=("admin",))
    user.language = "en"
    session.add(user)
    session.commit()
    headers = {"Authorization": f"Bearer {api_token(user)}", **ZH}
    error = _error(client.post("/api/v1/departments", json={}, headers=headers))
    assert error["message"] == "The input is not valid."

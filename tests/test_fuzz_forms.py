"""Fuzz every HTML form and the filtered pages: whatever is posted, a clear answer below 500.

Each form is posted by a signed-in user (the admin, with TOTP, unless the form belongs to
another step or user) with a valid CSRF token: arbitrary text, unicode, NUL bytes, huge
strings, lists where one value is expected, unknown fields, bodies that are not valid
urlencoding. The core forms are listed in FORMS with plausible values; the forms added beside
them (assets, vendors, imports) are found in the pages and fuzzed with the fields seen there.
Query strings of the pages with filters and paging, the path segments that name a department
or a user, and every <int:...> segment get the same treatment.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest
from fuzz_support import FUZZ_SETTINGS, HOSTILE, assert_clean, form_values, text_values
from helpers import PASSWORD, csrf_token, login
from hypothesis import given, settings
from hypothesis import strategies as st

from secgov.app import create_app

ROLE_VALUES = ("admin", "officer", "leader", "drill_team", "auditor")

# name: (path, {field: plausible values}, who posts)
FORMS = {
    "login": ("/login", {"username": ("fuzz-admin",), "password": (PASSWORD,), "next": ("/", "/audit")}, "anonymous"),
    "login_mfa": ("/login/mfa", {"code": ("123456", "000000", "12 34 56")}, "mfa_pending"),
    "language": ("/language", {"lang": ("en", "zh"), "next": ("/", "/admin/users?q=a")}, "admin"),
    "account_password": (
        "/account/password",
        {
            "current_password": (PASSWORD,),
            "new_password": ("a new long password 1",),
            "repeat_password": ("a new long password 1",),
        },
        "admin",
    ),
    "account_tokens": ("/account/tokens", {"name": ("ci", "laptop")}, "admin"),
    "account_mfa": ("/account/mfa", {"code": ("123456",)}, "officer"),
    "account_mfa_disable": ("/account/mfa/disable", {"code": ("123456",)}, "officer_mfa"),
    "department_new": (
        "/admin/departments/new",
        {
            "code": ("east", "n-1", "x.y_z"),
            "name": ("East",),
            "name_en": ("East",),
            "kind": ("city", "bureau", "unit"),
            "parent": ("city", "north", ""),
        },
        "admin",
    ),
    "department_edit": (
        "/admin/departments/north/edit",
        {
            "name": ("North",),
            "name_en": ("North",),
            "kind": ("bureau", "unit", "city"),
            "parent": ("city", "north", ""),
            "version": ("1", "2", "999"),
        },
        "admin",
    ),
    "user_new": (
        "/admin/users/new",
        {
            "username": ("new-user", "ab", "fuzz-officer"),
            "display_name": ("New User",),
            "email": ("a@b.example", ""),
            "department": ("city", "north"),
            "roles": ROLE_VALUES,
            "password": ("a long enough password",),
        },
        "admin",
    ),
    "user_edit": (
        "/admin/users/fuzz-officer",
        {
            "display_name": ("Officer",),
            "email": ("o@city.example", ""),
            "department": ("city", "north"),
            "roles": ROLE_VALUES,
            "disabled": ("1", ""),
            "version": ("1", "2", "999"),
        },
        "admin",
    ),
    "user_password": ("/admin/users/fuzz-officer/password", {"password": ("a long enough password",)}, "admin"),
    "settings": (
        "/admin/settings",
        {
            "setting": ("mfa_required_roles", "scan_allowed_networks", "vendor_origin_policy", "no_such_setting"),
            "mfa_required_roles": ROLE_VALUES,
            "scan_allowed_networks": ("127.0.0.0/24", "127.0.0.1\n127.0.1.0/24", "10.0.0.0/8", "-iL hosts", "::1"),
            "enabled": ("1", ""),
            "critical_sectors": ("transport", "energy", "space"),
            "restricted_roles": ("builder", "advisor"),
            "restricted_origins": ("foreign", "martian"),
        },
        "admin",
    ),
}

RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"%", b"a=%ZZ&b", b"=&=&&", b"\xff\xfe=\x00", b"name=%00", b"roles=%C0%80", b"a=" + b"%" * 1000]),
)


def form_data(fields: dict[str, tuple[str, ...]], huge: bool = True) -> st.SearchStrategy[dict]:
    """Some of the form's fields (plausible or hostile values), sometimes an unknown one."""
    return st.fixed_dictionaries(
        {},
        optional={
            **{name: form_values(*plausible, huge=huge) for name, plausible in fields.items()},
            "unknown_field": form_values(huge=huge),
        },
    )


@pytest.fixture
def users(make_user, make_department):
    """An admin with TOTP, an officer in a sub-department, and an officer with TOTP."""
    admin = make_user("fuzz-admin", roles=("admin",), mfa=True)
    make_department("north", parent="city")
    officer = make_user("fuzz-officer", roles=("officer",), department="north")
    officer_mfa = make_user("fuzz-officer-mfa", roles=("officer",), mfa=True)
    return {"admin": admin, "officer": officer, "officer_mfa": officer_mfa}


class Poster:
    """A client that posts with its session's CSRF token.

    The token is read again after a redirect: the posts that start a new session (sign-in,
    password change, MFA enrolment) all end in one.
    """

    def __init__(self, client, token_page: str):
        self.client, self.token_page, self._token = client, token_page, None

    def token(self) -> str:
        if self._token is None:
            self._token = csrf_token(self.client, self.token_page)
        return self._token

    def post(self, path: str, **kwargs):
        response = self.client.post(path, **kwargs)
        if response.status_code in (301, 302, 303):
            self._token = None
        return response


def signed_in(app, user):
    client = app.test_client()
    response = login(client, user)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert not response.headers["Location"].endswith(("/login", "/login/mfa"))
    return client


@pytest.fixture
def posters(app, users):
    """poster(kind) -> Poster for that kind of user, signed in on first use."""
    made: dict[str, Poster] = {}

    def poster(kind: str) -> Poster:
        if kind in made:
            return made[kind]
        if kind == "anonymous":
            made[kind] = Poster(app.test_client(), "/login")
        elif kind == "mfa_pending":
            client = app.test_client()
            response = client.post(
                "/login",
                data={"username": "fuzz-admin", "password": PASSWORD, "csrf_token": csrf_token(client, "/login")},
            )
            assert response.headers["Location"].endswith("/login/mfa")
            made[kind] = Poster(client, "/login/mfa")
        elif kind == "officer":
            made[kind] = Poster(signed_in(app, users["officer"]), "/account/mfa")
        else:
            made[kind] = Poster(signed_in(app, users[kind]), "/account")
        return made[kind]

    return poster


@pytest.mark.parametrize("form", sorted(FORMS))
@settings(FUZZ_SETTINGS, max_examples=30)
@given(data=st.data())
def test_form_post(posters, form, data):
    path, fields, kind = FORMS[form]
    poster = posters(kind)
    # A different address for each anonymous post, so that throttling does not end the fuzzing.
    environ = {"REMOTE_ADDR": data.draw(st.ip_addresses(v=4).map(str), label="ip")} if kind == "anonymous" else {}
    if data.draw(st.integers(0, 9), label="raw") == 0:
        body = b"csrf_token=" + poster.token().encode() + b"&" + data.draw(RAW_BODIES, label="body")
        response = poster.post(
            path, data=body, content_type="application/x-www-form-urlencoded", environ_overrides=environ
        )
    else:
        payload = data.draw(form_data(fields), label="form")
        payload["csrf_token"] = poster.token()
        response = poster.post(path, data=payload, environ_overrides=environ)
    assert_clean(response, f"POST {path}")


def test_form_fields_refuse_nul(posters, subtests):
    """A NUL byte in any one field of a form that is otherwise valid: a clear 4xx, no 500."""
    for form, (path, fields, kind) in sorted(FORMS.items()):
        poster = posters(kind)
        for field in fields:
            with subtests.test(form=form, field=field):
                payload = {name: plausible[0] for name, plausible in fields.items()}
                payload[field] = "a\x00b"
                payload["csrf_token"] = poster.token()
                response = poster.post(path, data=payload)
                assert_clean(response, f"POST {path} {field}=NUL")
                assert response.status_code == 400


# --- the other forms, found in the pages ----------------------------------------------------


def _other_form_routes() -> list[str]:
    """POST routes outside the API, without path arguments, that FORMS does not list."""
    app = create_app({"TESTING": True, "SECRET_KEY": "routes-only", "DATABASE_URL": "sqlite://", "REDIS_URL": None})
    app.extensions["secgov_engine"].dispose()
    listed = {path for path, _fields, _kind in FORMS.values()}
    # Sign-out buttons carry no input but the CSRF token, and would end the fuzzing session.
    no_input = {"/logout", "/account/sign-out-everywhere"}
    return sorted(
        {
            rule.rule
            for rule in app.url_map.iter_rules()
            if "POST" in rule.methods
            and not rule.arguments
            and not rule.rule.startswith("/api/")
            and rule.rule not in listed | no_input
        }
    )


OTHER_FORM_ROUTES = _other_form_routes()


class FormScraper(HTMLParser):
    """The POST forms of a page: action -> {field: values seen (defaults, options)}, file fields."""

    def __init__(self, page: str):
        super().__init__()
        self.page, self.forms, self._form, self._select = page, {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            if (attrs.get("method") or "get").lower() == "post":
                action = urlsplit(urljoin(self.page, attrs.get("action") or self.page)).path
                self._form = self.forms.setdefault(action, ({}, set()))
        elif tag == "option" and self._select is not None and attrs.get("value"):
            self._select.append(attrs["value"])
        elif self._form is not None and tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            fields, files = self._form
            values = fields.setdefault(attrs["name"], [])
            if attrs.get("value"):
                values.append(attrs["value"])
            if attrs.get("type") == "file":
                files.add(attrs["name"])
            self._select = values if tag == "select" else None

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def scrape_forms(app, client) -> dict[str, tuple[dict[str, list[str]], set[str]]]:
    """The POST forms of every page without path arguments, as a signed-in admin sees them."""
    forms: dict[str, tuple[dict[str, list[str]], set[str]]] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.rule.startswith(("/api/", "/static")):
            continue
        response = client.get(rule.rule)
        if response.status_code == 200 and response.mimetype == "text/html":
            scraper = FormScraper(rule.rule)
            scraper.feed(response.get_data(as_text=True))
            for action, (fields, files) in scraper.forms.items():
                known_fields, known_files = forms.setdefault(action, ({}, set()))
                for name, values in fields.items():
                    known_fields.setdefault(name, []).extend(values)
                known_files.update(files)
    return forms


@pytest.fixture
def scraped_forms(app, posters):
    return scrape_forms(app, posters("admin").client)


@pytest.mark.parametrize("path", OTHER_FORM_ROUTES)
@settings(FUZZ_SETTINGS, max_examples=25)
@given(data=st.data())
def test_other_form_post(posters, scraped_forms, path, data):
    """Forms added beside the core (assets, vendors, imports...): their fields, as found in the pages."""
    fields, files = scraped_forms.get(path, ({}, set()))
    plausible = {
        name: tuple(v for v in values if v) or ("x",) for name, values in fields.items() if name != "csrf_token"
    }
    poster = posters("admin")
    # With a file, the test client writes a multipart body above 500 kB to a temporary file it
    # never closes (a ResourceWarning): no huge text fields there.
    payload = data.draw(
        form_data({name: values for name, values in plausible.items() if name not in files}, huge=not files),
        label="form",
    )
    for name in files:
        if data.draw(st.booleans(), label=f"send {name}"):
            content = data.draw(
                st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode), st.just(b"\x00" * 70_000)),
                label=name,
            )
            filename = data.draw(st.one_of(st.sampled_from(["a.csv", "a.xlsx", "a.xml", ""]), st.text(max_size=30)))
            payload[name] = (io.BytesIO(content), filename)
    payload["csrf_token"] = poster.token()
    response = poster.post(path, data=payload)
    assert_clean(response, f"POST {path}")


# --- query strings -------------------------------------------------------------------------

PAGES = {
    "/admin/users": {"q": ("fuzz", "officer", ""), "page": ("1", "2", "0", "-1", "10001")},
    "/audit": {
        "actor": ("fuzz-admin", "system"),
        "action": ("auth.", "user.created"),
        "since": ("2024-01-01", "2999-01-01", "9999-12-31"),
        "until": ("2024-01-01", "2999-01-01", "9999-12-31"),
        "page": ("1", "2", "0", "-1", "10001"),
    },
    "/login": {"next": ("/", "/admin/users")},
    "/admin/departments/new": {"parent": ("city", "north")},
}


def query_params(names: dict[str, tuple[str, ...]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """name=value pairs; a name may come twice (a list where one value is expected)."""
    # Query values travel in the URL: no huge strings (HOSTILE holds some of 5000 characters).
    pair = st.sampled_from([*names, "unknown"]).flatmap(
        lambda name: st.tuples(st.just(name), text_values(*names.get(name, ("x",)), huge=False))
    )
    return st.lists(pair, max_size=6)


@pytest.mark.parametrize("path", sorted(PAGES))
@settings(FUZZ_SETTINGS, max_examples=40)
@given(data=st.data())
def test_page_query(posters, path, data):
    client = posters("anonymous" if path == "/login" else "admin").client
    params = data.draw(query_params(PAGES[path]), label="query")
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)
    response = client.get(f"{path}?{query}")
    assert_clean(response, f"GET {path}?{query[:200]}")


def test_audit_page_date_edges(posters, subtests):
    """Dates at the ends of the calendar, beyond it, or not dates at all: the page still shows."""
    client = posters("admin").client
    for field in ("since", "until"):
        for value in ("9999-12-31", "0001-01-01", "2024-02-30", "99999-01-01", "2024-1-1", "0", "1e-300"):
            with subtests.test(field=field, value=value):
                response = client.get(f"/audit?{field}={quote(value)}")
                assert_clean(response, f"GET /audit?{field}={value}")
                assert response.status_code == 200


# --- path segments -------------------------------------------------------------------------

SEGMENT_ROUTES = [
    ("GET", "/admin/departments/{}/edit"),
    ("POST", "/admin/departments/{}/edit"),
    ("POST", "/admin/departments/{}/delete"),
    ("GET", "/admin/users/{}"),
    ("POST", "/admin/users/{}"),
    ("POST", "/admin/users/{}/password"),
    ("POST", "/admin/users/{}/mfa-reset"),
    ("POST", "/admin/users/{}/sign-out"),
    ("POST", "/account/tokens/{}/revoke"),
]


@settings(FUZZ_SETTINGS, max_examples=60)
@given(
    route=st.sampled_from(SEGMENT_ROUTES),
    segment=st.one_of(
        st.sampled_from(HOSTILE),
        st.text(min_size=1, max_size=60),
        # Numbers for the <int:...> segments, up to far beyond the database's INTEGER.
        st.integers(min_value=-1, max_value=2**70).map(str),
    ).filter(lambda s: s.strip()),
)
def test_path_segment(posters, route, segment):
    """Departments, users and tokens named in the URL: unknown or hostile names get 4xx, never 500."""
    method, template = route
    poster = posters("admin")
    path = template.format(quote(segment, safe=""))
    if method == "POST":
        response = poster.post(path, data={"csrf_token": poster.token()})
    else:
        response = poster.client.get(path)
    assert_clean(response, f"{method} {path[:200]}")


def test_int_segments_beyond_the_database(app, posters, users, api_token, subtests):
    """Every route with an <int:...> segment, given ids past the INTEGER columns: a 4xx, never 500."""
    poster = posters("admin")
    bearer = {"Authorization": f"Bearer {api_token(users['admin'])}"}
    rules = [rule for rule in app.url_map.iter_rules() if re.search(r"<int[:(]", rule.rule)]
    assert rules
    for rule in rules:
        for number in ("2147483648", "9223372036854775808", "99999999999999999999999"):
            path = re.sub(
                r"<(\w+)(?:\([^)]*\))?:(\w+)>", lambda m, n=number: n if m.group(1) == "int" else "x", rule.rule
            )
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                with subtests.test(method=method, path=path):
                    if path.startswith("/api/"):
                        response = poster.client.open(path, method=method, headers=bearer, json={})
                    elif method == "GET":
                        response = poster.client.get(path)
                    else:
                        response = poster.post(path, data={"csrf_token": poster.token()})
                    assert_clean(response, f"{method} {path}")

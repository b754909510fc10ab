"""Every page in a real browser: Debian's Chromium, driven by Playwright, against the production
server (`python -m secgov serve`) on 127.0.0.1 with the demo city.

The pages come from the app's URL map: every GET route that is not the API, with its path
arguments filled from links the app itself shows (an asset, a vendor, a department, a user...).
Each page is loaded once per language, as the least privileged demo user who can open it, and
looked at 1,366 px and 390 px wide (the viewport is resized, the page is not loaded again):

- it answers 200 with HTML in the language asked for, without a redirect;
- the page never scrolls sideways (a table may scroll inside its own wrapper), the main menu
  holds on one line at 1,366 px and folds behind a button at 390 px, codes never break;
- no `None` is shown, no message of the catalogue is left in English on a Chinese page (nor in
  Chinese on an English one), departments are named in the page's language;
- no console error, and no request to anything but the server on 127.0.0.1.

A failure names the page, the language, the width and what is wrong. With SECGOV_SCREENSHOTS=1
every page is also written to screenshots/ as ENDPOINT-LANGUAGE-WIDTH.png.

The admin enrols TOTP by scanning the QR code as the browser drew it (zxing-cpp), which also
proves the image renders. The layer does not use the test database (its server has a SQLite
database of its own): it runs once, not again on PostgreSQL.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import pytest
import zxingcpp
from babel.messages.pofile import read_po
from helpers import DATA_KEY
from PIL import Image
from playwright.sync_api import BrowserContext, Page, sync_playwright
from server_support import Server, environment_of
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from secgov import demo
from secgov.app import create_app
from secgov.authz import AUTHENTICATED, PUBLIC, declaration

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "secgov" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (scripts/system-deps); never a downloaded browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
WIDTHS = (1366, 390)
HEIGHT = 900
LANGUAGES = {"zh": "zh-CN", "en": "en"}  # our code -> <html lang>

# GET routes that are not pages, each with its reason. Every rule under /api/ answers JSON (the
# API's tests and the schemathesis fuzz cover it) and is left out as a whole.
NOT_PAGES = {
    "static": "the style sheet and the script, loaded by every page",
    "main.healthz": "a plain-text answer for load balancers",
    "registers.export_assets": "a file download (CSV or XLSX), not a page",
    "registers.export_vendors": "a file download (CSV or XLSX), not a page",
    "registers.export_risks": "a file download (CSV or XLSX), not a page",
    "registers.export_assessments": "a file download (CSV or XLSX), not a page",
    "registers.export_scan_findings": "a file download (CSV or XLSX), not a page",
    "registers.export_scans": "a file download (CSV or XLSX), not a page",
    "registers.export_drills": "a file download (CSV or XLSX), not a page",
    "registers.export_corrective_actions": "a file download (CSV or XLSX), not a page",
    "registers.export_accountability_matrix": "a file download (CSV or XLSX), not a page",
    "registers.export_appraisal": "a file download (CSV or XLSX), not a page",
    "registers.export_appraisal_records": "a file download (CSV or XLSX), not a page",
    "reports.download": "a file download (the report's PDF), not a page",
    "reports.attachment": "a file download (a full register that goes with a report), not a page",
    "scans.xml": "a file download (a scan's raw nmap XML), not a page",
    "drill_calendar.drill_ics": "a file download (a drill as iCalendar), not a page",
    "drill_calendar.feed": "a calendar feed for calendar programs (iCalendar, its token in the address), not a page",
}
# Pages that no link leads to: reached in the middle of a sign-in, once per language.
SIGN_IN_STEP = "auth.login_mfa"
# A page users meet that no route renders on its own: (name, path, status).
ERROR_PAGE = ("not_found", "/no-such-page", 404)

# Failures that belong to work on other branches, (endpoint, check) -> reason. Each entry must
# still fail (an entry that passes fails test_expected_failures_still_fail): the lead empties
# this list as those branches are merged. Never add a failure of this branch's own work here.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    # (endpoint, check): why it fails for now. Empty: every page passes every check.
}

CHECKS = {
    "answer": "the page answers 200 with HTML in the language asked for, without a redirect",
    "overflow": "the page does not scroll sideways (a wide table scrolls inside its wrapper)",
    "menu": "the menu holds on one line at 1,366 px; at 390 px it folds behind a button, each entry on one line; "
    "the language switch shows at both",
    "code": "a code in a table or a title never breaks across lines",
    "heading": "every column of a table has a heading (words, or words for a screen reader)",
    "none": "no Python None is shown",
    "untranslated": "no message of the catalogue is shown in the other language",
    "department": "a department with an English name is not named in Chinese on an English page",
    "console": "no console error and no script error",
    "request": "no request leaves 127.0.0.1",
}


# --- the server, the demo city and the browser ------------------------------------------------


@dataclass
class Problem:
    check: str
    endpoint: str
    path: str
    lang: str
    width: int | None
    detail: str

    def __str__(self) -> str:
        width = f", {self.width} px" if self.width else ""
        return f"{self.endpoint} {self.path} [{self.lang}{width}] {self.check}: {self.detail}"


@dataclass
class Site:
    """The running server with the demo city, the browser, and every request the browser made."""

    base: str
    app: object
    passwords: dict[str, str]
    browser: object
    requests: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def context(self) -> BrowserContext:
        """A new browser profile whose requests are recorded; any to another host is refused."""
        context = self.browser.new_context(viewport={"width": WIDTHS[0], "height": HEIGHT}, locale="zh-CN")
        context.on("request", lambda request: self.requests.append(request.url))
        context.route("**/*", self._loopback_only)
        return context

    def _loopback_only(self, route) -> None:
        if _local(route.request.url, self.base):
            route.continue_()
        else:
            route.abort("blockedbyclient")


def _local(url: str, base: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "data" or (parts.scheme, parts.netloc) == tuple(urlsplit(base)[:2])


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "secgov", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"secgov {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make setup runs scripts/system-deps)")
    instance = tmp_path_factory.mktemp("browser-instance")
    url = f"sqlite:///{instance / 'secgov.sqlite3'}"
    env = environment_of(url, instance, SECGOV_COOKIE_SECURE="0")
    _run(["db", "upgrade"], env)
    logins = _run(["demo"], env)
    # "  username  password  roles  department", one demo user a line
    passwords = {m[1]: m[2] for m in re.finditer(r"^  (\S+)\s+(\S+)\s+\S+\s+\S+$", logins, re.M)}
    assert set(passwords) == {u[0] for u in demo.USERS}, logins
    # The app in this process is read for its URL map and route declarations only.
    app = create_app({"SECRET_KEY": "browser-layer", "DATABASE_URL": url, "SECGOV_DATA_KEYS": DATA_KEY})
    server = Server(url, instance, SECGOV_COOKIE_SECURE="0")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield Site(server.base, app, passwords, browser)
            finally:
                browser.close()
    finally:
        server.stop()


def sign_in(page: Page, base: str, username: str, password: str, secret: str | None = None) -> None:
    """The sign-in form, and the code form when the account has TOTP."""
    page.goto(f"{base}/login")
    page.fill("main input[name=username]", username)
    page.fill("main input[name=password]", password)
    submit(page)
    if secret is not None and urlsplit(page.url).path == "/login/mfa":
        # The next step's code: the server accepts one step of drift, and the enrolment has used
        # the current one.
        page.fill("main input[name=code]", pyotp.TOTP(secret).at(time.time() + 30))
        submit(page)


def submit(page: Page) -> None:
    """Send the page's form and wait for the page it leads to."""
    with page.expect_navigation():
        page.click("main form button.primary")


def use_language(page: Page, lang: str) -> None:
    """Switch the interface language with the page's own button, when it is not the one shown."""
    button = page.locator(f"button[name=lang][value={lang}]")
    if button.count():
        with page.expect_navigation():
            button.click()


# --- TOTP enrolment by scanning the QR code ---------------------------------------------------


@dataclass
class Admin:
    context: BrowserContext
    page: Page
    shown_key: str
    scanned: list[str]
    qr_size: tuple[int, int]
    landed_on: str


def scan_qr(page: Page) -> tuple[list[str], tuple[int, int]]:
    """The texts of the QR codes in the enrolment page's image, as the browser drew it."""
    image = page.locator("img.qr")
    size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    picture = Image.open(io.BytesIO(image.screenshot())).convert("L")
    return [barcode.text for barcode in zxingcpp.read_barcodes(picture)], tuple(size)


@pytest.fixture(scope="module")
def admin(site) -> Admin:
    """The admin signed in, having enrolled TOTP at the first sign-in with the scanned secret (or
    with the key shown as text when the scan fails, so that the other pages are still checked:
    test_admin_enrols_totp_by_scanning_the_qr_code fails then)."""
    context = site.context()
    page = context.new_page()
    sign_in(page, site.base, "admin", site.passwords["admin"])
    assert urlsplit(page.url).path == "/account/mfa", page.url
    shown = page.inner_text("code.secret").strip()
    scanned, size = scan_qr(page)
    keys = [parse_qs(urlsplit(text).query).get("secret", [""])[0] for text in scanned]
    page.fill("main input[name=code]", pyotp.TOTP(keys[0] if keys and keys[0] else shown).now())
    page.fill("main input[name=password]", site.passwords["admin"])
    submit(page)
    return Admin(context, page, shown, scanned, size, urlsplit(page.url).path)


def test_admin_enrols_totp_by_scanning_the_qr_code(site, admin):
    """The QR code on the enrolment page is drawn by the browser and holds the key shown beside
    it; the enrolment accepts a code made from the scanned key, and so does the next sign-in."""
    assert admin.qr_size[0] > 0, "the browser could not draw the QR image"
    assert len(admin.scanned) == 1, f"no QR code could be read from the image as drawn: {admin.scanned}"
    uri = urlsplit(admin.scanned[0])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp"), admin.scanned[0]
    secret = parse_qs(uri.query)["secret"][0]
    assert secret == admin.shown_key
    assert admin.landed_on == "/account", "the enrolment refused the code made from the scanned key"

    context = site.context()
    try:
        page = context.new_page()
        sign_in(page, site.base, "admin", site.passwords["admin"], secret)
        assert urlsplit(page.url).path == "/", page.url
        assert page.locator("form[action='/logout']").count() == 1
    finally:
        context.close()


# --- finding the pages ---------------------------------------------------------------------------


@dataclass
class Visitor:
    """A demo user, or nobody."""

    username: str | None
    roles: frozenset[str]

    def may_open(self, access) -> bool:
        if access == PUBLIC:
            return True
        if self.username is None:
            return False
        return access == AUTHENTICATED or bool(self.roles & access)


def page_endpoints(app) -> dict[str, object]:
    """Every GET route that renders a page: endpoint -> its rule."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.rule.startswith("/api/") and rule.endpoint not in NOT_PAGES:
            pages[rule.endpoint] = rule
    return pages


def visitors(app) -> list[Visitor]:
    """Nobody, then the demo users from the least privileged: the fewest routes their roles open,
    then a bureau's user before one of the whole city."""
    rules = [(rule, declaration(app.view_functions[rule.endpoint])) for rule in app.url_map.iter_rules()]
    root = {code for code, parent, *_ in demo.DEPARTMENTS if parent is None}

    def privilege(user: Visitor, department: str) -> tuple[int, bool]:
        return sum(1 for _rule, access in rules if access and user.may_open(access)), department in root

    users = [(Visitor(name, frozenset(roles)), dept) for name, _display, roles, dept in demo.USERS]
    return [Visitor(None, frozenset()), *[user for user, dept in sorted(users, key=lambda u: privilege(*u))]]


def discover(context: BrowserContext, base: str, app, visitor: Visitor, pages: dict[str, object]) -> dict[str, str]:
    """One path for each page this visitor may open that a link leads to, following the links
    the pages show (plain requests, in the visitor's session), starting from the pages without
    path arguments."""
    adapter = app.url_map.bind("127.0.0.1")
    allowed = {e for e, rule in pages.items() if visitor.may_open(declaration(app.view_functions[e]))}
    queue = [adapter.build(e) for e in sorted(allowed) if not pages[e].arguments]
    found: dict[str, str] = {}
    queued = set(queue)
    while queue:
        path = queue.pop(0)
        response = context.request.get(base + path, max_redirects=0)
        if response.status != 200 or not response.headers.get("content-type", "").startswith("text/html"):
            continue
        found.setdefault(_endpoint(adapter, path), path)
        for href in re.findall(r'href="([^"#]*)"', response.text()):
            target = urlsplit(urljoin(base + path, href.replace("&amp;", "&")))
            if target.netloc != urlsplit(base).netloc or target.path in queued:
                continue
            endpoint = _endpoint(adapter, target.path)
            if (
                endpoint in allowed
                and endpoint not in found
                and not any(_endpoint(adapter, p) == endpoint for p in queue)
            ):
                queue.append(target.path)
                queued.add(target.path)
    return found


def _endpoint(adapter, path: str) -> str | None:
    try:
        return adapter.match(path, method="GET")[0]
    except (HTTPException, RequestRedirect):
        return None


# --- looking at a page ------------------------------------------------------------------------

LAYOUT = """() => {
  const root = document.documentElement, limit = root.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + [...el.classList].map(c => '.' + c).join('');
  const clipped = el => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
  const out = [];
  if (root.scrollWidth > limit) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect(), parent = el.parentElement.getBoundingClientRect();
      if (box.width && box.right > limit + 1 && (el.parentElement === document.body || parent.right <= limit + 1) && !clipped(el))
        out.push(name(el) + ' reaches ' + Math.round(box.right) + ' px');
    }
  }
  const broken = [...document.querySelectorAll('td code, th code, h1 code')]
    .filter(c => c.getClientRects().length > 1).map(c => c.textContent.trim());
  const bare = [...document.querySelectorAll('main table')].filter(t => !t.closest('.table-wrap'));
  const headless = [...document.querySelectorAll('main thead th')].filter(th => !th.textContent.trim())
    .map(th => (th.closest('table').querySelector('th') || th).textContent.trim().slice(0, 30));
  return {scrollWidth: root.scrollWidth, clientWidth: limit, outside: out.slice(0, 6), broken: broken.slice(0, 6),
          bare: bare.map(t => (t.querySelector('th') || t).textContent.trim().slice(0, 30)), headless: headless};
}"""

MENU = """() => {
  const links = [...document.querySelectorAll('.mainnav a')];
  const shown = links.filter(a => a.checkVisibility());
  const lines = a => { const r = document.createRange(); r.selectNodeContents(a); return r.getClientRects().length; };
  const toggle = document.querySelector('.menu-button');
  return {
    links: links.length, shown: shown.length, tops: [...new Set(shown.map(a => Math.round(a.getBoundingClientRect().top)))],
    broken: shown.filter(a => lines(a) > 1).map(a => a.textContent.trim()),
    toggle: !!toggle && toggle.checkVisibility(),
    language: [...document.querySelectorAll('button[name=lang]')].some(b => b.checkVisibility()),
  };
}"""

TEXTS = """() => {
  const lang = document.documentElement.lang, out = [[document.title, '']];
  const foreign = el => { const l = el.closest('[lang]'); return !!l && l.lang !== lang; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement, text = n.nodeValue.replace(/\\s+/g, ' ').trim();
    if (!text || el.closest('script, style, template') || !(el.closest('select') || el).checkVisibility()) continue;
    out.push([text, el.closest('code') ? 'code' : foreign(el) ? 'foreign' : '']);
  }
  const attributes = ['placeholder', 'title', 'alt', 'aria-label', 'data-confirm'];
  for (const el of document.body.querySelectorAll(attributes.map(a => '[' + a + ']').join(', '))) {
    for (const a of attributes) if (el.hasAttribute(a)) out.push([el.getAttribute(a).replace(/\\s+/g, ' ').trim(), foreign(el) ? 'foreign' : '']);
  }
  return out;
}"""

NONE = re.compile(r"(?<![A-Za-z])None(?![A-Za-z])")
CJK = re.compile(r"[\u3400-\u9fff]")
# A printf conversion as the % operator reads it: %(name)s, %d, %%...
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
EDGES = " :：·,，;；.。()（）"


def _pattern(message: str) -> str:
    """A regular expression for a message as shown, whatever its placeholders became."""
    parts, last = [], 0
    for m in PLACEHOLDER.finditer(message):
        if m.group() == "%%":
            filler = "%"
        elif m.group()[-1] in "diouxX":
            filler = r"\d[\d,]*"  # a number shows as digits
        else:
            filler = ".+?"
        parts += [re.escape(message[last : m.start()]), filler]
        last = m.end()
    return "".join([*parts, re.escape(message[last:])])


@dataclass
class Messages:
    """The catalogue's messages in a form that finds one shown in the wrong language.

    A message is looked for only where it cannot be the data or a proper noun: its translation
    must differ from it and not contain it (a code such as "CSV" or "MLPS" reads the same in both
    languages); text inside <code> and inside an element of another lang= is left out. On a
    Chinese page, an English message of two words or more is looked for inside any text (case
    and word boundaries kept); a one-word message only as a whole text, less its punctuation:
    "No" or "Energy" may be part of a system's English name, never a whole label of a Chinese
    page. On an English page a Chinese message is looked for only as a whole text: the demo's
    names are bilingual by design ("网信舆情监测系统 Online opinion monitoring")."""

    within: re.Pattern | None
    whole: re.Pattern | None
    none_allowed: re.Pattern | None

    @classmethod
    def shown_in_the_wrong_language(cls, pairs: list[tuple[str, str]], lang: str) -> Messages:
        within, whole, none_allowed = [], [], []
        for msgid, msgstr in pairs:
            wrong, right = (msgid, msgstr) if lang == "zh" else (msgstr, msgid)
            if NONE.search(right):
                none_allowed.append(_pattern(right))
            literal = PLACEHOLDER.sub(" ", wrong).strip()
            if not msgstr or literal in PLACEHOLDER.sub(" ", right) or msgid == msgstr:
                continue
            words = len(re.findall(r"[A-Za-z]{2,}", literal)) if lang == "zh" else 0
            if words >= 2:
                within.append(rf"(?<![A-Za-z0-9]){_pattern(wrong)}(?![A-Za-z0-9])")
            elif words or (lang == "en" and CJK.search(literal)):
                whole.append(_pattern(wrong))

        def compiled(patterns: list[str]) -> re.Pattern | None:
            return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

        return cls(compiled(within), compiled(whole), compiled(none_allowed))

    def found(self, text: str) -> str | None:
        if self.within and (m := self.within.search(text)):
            return m.group()
        stripped = text.strip(EDGES)
        if self.whole and (self.whole.fullmatch(text) or (stripped and self.whole.fullmatch(stripped))):
            return text
        return None


@functools.cache
def catalogue() -> dict[str, Messages]:
    """For each language, how to find a message of the other one."""
    with PO.open("rb") as file:
        po = read_po(file)
    pairs = []
    for message in po:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        pairs += [
            (msgid, strings[0] if len(strings) == 1 else strings[min(i, len(strings) - 1)])
            for i, msgid in enumerate(ids)
        ]
    return {lang: Messages.shown_in_the_wrong_language(pairs, lang) for lang in LANGUAGES}


ZH_DEPARTMENTS = [name for _code, _parent, _kind, name, name_en in demo.DEPARTMENTS if name_en]


class Crawl:
    """Visits pages in one browser tab and records what is wrong with them."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.console: list[str] = []
        self.visited: list[tuple[str, str, str, str]] = []  # visitor, endpoint, path, lang

    def watch(self, page: Page) -> None:
        page.on(
            "console",
            lambda m: self.console.append(f"{m.text} ({m.location.get('url', '')})") if m.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.console.append(f"script error: {error}"))

    def problem(self, check, endpoint, path, lang, width, detail) -> None:
        self.site.problems.append(Problem(check, endpoint, path, lang, width, detail))

    def look(self, page: Page, who: str, endpoint: str, path: str, lang: str, status: int = 200) -> None:
        """Load the page at the first width, then look at it at every width."""
        self.console.clear()
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        response = page.goto(self.site.base + path)
        self.visited.append((who, endpoint, path, lang))
        self._answer(page, response, endpoint, path, lang, status)
        self._texts(page, endpoint, path, lang)
        for width in WIDTHS:
            if width != WIDTHS[0]:
                page.set_viewport_size({"width": width, "height": HEIGHT})
            self._layout(page, endpoint, path, lang, width)
            if os.environ.get("SECGOV_SCREENSHOTS") == "1":
                page.screenshot(path=str(SCREENSHOTS / f"{endpoint}-{lang}-{width}.png"), full_page=True)
        if status != 200:  # Chromium reports the document's own error status on the console
            own = f"status of {status}"
            self.console[:] = [line for line in self.console if not (own in line and path in line)]
        if self.console:
            self.problem("console", endpoint, path, lang, None, " | ".join(self.console))

    def _answer(self, page, response, endpoint, path, lang, status) -> None:
        where = urlsplit(page.url).path
        kind = response.headers.get("content-type", "") if response else ""
        shown = page.evaluate("document.documentElement.lang")
        if response is None or response.status != status or where != path or not kind.startswith("text/html"):
            got = f"{response.status if response else 'no answer'} {kind} at {where}"
            self.problem("answer", endpoint, path, lang, None, f"expected {status} text/html at {path}, got {got}")
        elif shown != LANGUAGES[lang]:
            self.problem("answer", endpoint, path, lang, None, f"the page is in {shown!r}")

    def _layout(self, page, endpoint, path, lang, width) -> None:
        facts = page.evaluate(LAYOUT)
        if facts["scrollWidth"] > facts["clientWidth"]:
            detail = f"{facts['scrollWidth']} px wide in a {facts['clientWidth']} px window: " + "; ".join(
                facts["outside"]
            )
            self.problem("overflow", endpoint, path, lang, width, detail)
        if facts["bare"]:
            detail = "a table outside a .table-wrap (it would widen the page on a phone): " + ", ".join(facts["bare"])
            self.problem("overflow", endpoint, path, lang, width, detail)
        if facts["broken"]:
            self.problem("code", endpoint, path, lang, width, "broken across lines: " + ", ".join(facts["broken"]))
        if facts["headless"]:
            detail = "a column without a heading, in the table headed " + ", ".join(facts["headless"])
            self.problem("heading", endpoint, path, lang, width, detail)

    def _texts(self, page, endpoint, path, lang) -> None:
        messages = catalogue()[lang]
        nones, wrong, departments = [], [], []
        for text, kind in page.evaluate(TEXTS):
            rest = messages.none_allowed.sub("", text) if messages.none_allowed else text
            if NONE.search(rest):
                nones.append(text)
            if not kind and (found := messages.found(text)):
                wrong.append(found)
            if lang == "en":
                departments += [name for name in ZH_DEPARTMENTS if name in text]
        if nones:
            self.problem("none", endpoint, path, lang, None, " | ".join(_few(nones)))
        if wrong:
            self.problem("untranslated", endpoint, path, lang, None, " | ".join(_few(wrong)))
        if departments:
            self.problem("department", endpoint, path, lang, None, ", ".join(_few(departments)))

    def menu(self, page: Page, who: str, lang: str) -> None:
        """The menu of the home page: one line at the widest, folded behind a button at the narrowest."""
        path = "/"
        self.console.clear()
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        page.goto(self.site.base + path)
        wide = page.evaluate(MENU)
        name = f"menu of {who}"
        if (
            not wide["links"]
            or wide["shown"] != wide["links"]
            or len(wide["tops"]) != 1
            or wide["broken"]
            or wide["toggle"]
            or not wide["language"]
        ):
            self.problem("menu", name, path, lang, WIDTHS[0], f"not one line of links: {wide}")
        page.set_viewport_size({"width": WIDTHS[-1], "height": HEIGHT})
        folded = page.evaluate(MENU)
        if folded["shown"] or not folded["toggle"] or not folded["language"]:
            self.problem("menu", name, path, lang, WIDTHS[-1], f"not folded behind a button: {folded}")
        else:
            page.click(".menu-button")
            opened = page.evaluate(MENU)
            if opened["shown"] != opened["links"] or opened["broken"]:
                detail = f"opened, it does not show every entry on one line: {opened}"
                self.problem("menu", name, path, lang, WIDTHS[-1], detail)
            self._layout(page, name, path, lang, WIDTHS[-1])
            if os.environ.get("SECGOV_SCREENSHOTS") == "1":
                page.screenshot(path=str(SCREENSHOTS / f"menu-{who}-{lang}-{WIDTHS[-1]}.png"), full_page=True)
        if self.console:
            self.problem("console", name, path, lang, None, " | ".join(self.console))


def _few(items: list[str], n: int = 5) -> list[str]:
    unique = list(dict.fromkeys(items))
    return unique[:n] + ([f"and {len(unique) - n} more"] if len(unique) > n else [])


@dataclass
class Result:
    pages: dict[str, object]  # endpoint -> rule, every page route
    crawled: dict[str, tuple[str, str]]  # endpoint -> (visitor, path)
    visited: list[tuple[str, str, str, str]]
    problems: list[Problem]
    seconds: float


# The demo's officer of a bureau: every page they reach is looked at as they see it too.
WRITER = "officer.transport"


@pytest.fixture(scope="module")
def crawl(site, admin) -> Result:
    """Every page, once per language, as the least privileged demo user who reaches it."""
    started = time.monotonic()
    if os.environ.get("SECGOV_SCREENSHOTS") == "1":
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
        SCREENSHOTS.mkdir()
    pages = page_endpoints(site.app)
    crawler = Crawl(site)
    crawled: dict[str, tuple[str, str]] = {}
    contexts = []
    for visitor in visitors(site.app):
        who = visitor.username or "nobody"
        if visitor.username == "admin":
            context, page = admin.context, admin.page
        else:
            context = site.context()
            contexts.append(context)
            page = context.new_page()
            if visitor.username:
                sign_in(page, site.base, visitor.username, site.passwords[visitor.username])
        found = discover(context, site.base, site.app, visitor, pages)
        # A reader sees a page without its forms: the bureau's officer looks at every page of
        # theirs again, with the forms a writer gets (the controls' save, exemption requests).
        again = visitor.username == WRITER
        mine = {e: p for e, p in found.items() if e not in crawled or again}
        if visitor.username and ERROR_PAGE[0] not in crawled:
            mine[ERROR_PAGE[0]] = ERROR_PAGE[1]
        crawled.update({e: (who, p) for e, p in mine.items() if e not in crawled})
        crawler.watch(page)
        for lang in LANGUAGES:
            page.goto(site.base + "/")
            use_language(page, lang)
            if visitor.username:
                crawler.menu(page, who, lang)
            for endpoint, path in sorted(mine.items()):
                crawler.look(page, who, endpoint, path, lang, ERROR_PAGE[2] if endpoint == ERROR_PAGE[0] else 200)
    # The second step of a sign-in, in a browser that has given the admin's password.
    for lang in LANGUAGES:
        context = site.context()
        contexts.append(context)
        page = context.new_page()
        crawler.watch(page)
        page.goto(site.base + "/login")
        use_language(page, lang)
        sign_in(page, site.base, "admin", site.passwords["admin"])
        crawler.look(page, "admin (password given)", SIGN_IN_STEP, "/login/mfa", lang)
    crawled[SIGN_IN_STEP] = ("admin (password given)", "/login/mfa")
    for context in contexts:
        context.close()
    for url in site.requests:
        if not _local(url, site.base):
            crawler.problem("request", "(any page)", url, "-", None, "a request left the server on 127.0.0.1")
    return Result(pages, crawled, crawler.visited, site.problems, time.monotonic() - started)


# --- the checks, one test each -----------------------------------------------------------------


def unexpected(result: Result, check: str) -> list[str]:
    return [str(p) for p in result.problems if p.check == check and (p.endpoint, check) not in EXPECTED_FAILURES]


def test_every_page_route_is_crawled(crawl):
    """A GET route that is not the API must be crawled or listed in NOT_PAGES with its reason: a
    page added later is looked at without anyone remembering to."""
    missing = sorted(set(crawl.pages) - set(crawl.crawled))
    assert not missing, f"pages no demo user reached by a link (give them one, or a reason in NOT_PAGES): {missing}"
    print(f"\n{len(crawl.visited)} page loads in {crawl.seconds:.0f} s:")
    for endpoint, (who, path) in sorted(crawl.crawled.items()):
        print(f"  {endpoint:<28} {path:<32} as {who}")


@pytest.mark.parametrize("check", [c for c in CHECKS if c != "request"])
def test_pages(crawl, check):
    """Each check over every page, language and width; the failures listed together."""
    problems = unexpected(crawl, check)
    assert not problems, f"{CHECKS[check]}:\n" + "\n".join(problems)


def test_every_request_stays_on_loopback(site, crawl):
    assert site.requests, "no request was recorded"
    problems = unexpected(crawl, "request")
    assert not problems, "\n".join(problems)


def test_expected_failures_still_fail(crawl):
    """An expected failure that no longer happens is removed from EXPECTED_FAILURES."""
    seen = {(p.endpoint, p.check) for p in crawl.problems}
    fixed = {key: reason for key, reason in EXPECTED_FAILURES.items() if key not in seen}
    assert not fixed, f"these pass now, remove them from EXPECTED_FAILURES: {fixed}"


# --- the checks' own rules, without a browser --------------------------------------------------


def test_the_language_check_finds_messages_left_in_the_other_language():
    zh, en = catalogue()["zh"], catalogue()["en"]
    assert zh.found("Critical systems") == "Critical systems"  # a title left in English
    assert zh.found("第 1 / 2 页 Page 1 of 2 (61 in all)")  # a sentence with its placeholders filled
    assert zh.found("Vendors:") and zh.found("Yes")  # one word: as a whole text, less punctuation
    assert zh.found("网信舆情监测系统 Online opinion monitoring") is None  # a system's bilingual name
    assert zh.found("Yes, we can") is None and zh.found("Vendorship") is None
    assert zh.found("SecGov") is None  # a proper noun: the same in both languages
    assert en.found("登记") and en.found("关键信息系统")
    assert en.found("系统管理员 System Administrator") is None  # a bilingual name
    assert en.found("Critical systems") is None


def test_the_none_check_tells_the_message_from_a_python_none():
    assert catalogue()["en"].none_allowed.sub("", "None.") == ""  # the English message for an empty table
    assert NONE.search(catalogue()["en"].none_allowed.sub("", "officer, None"))
    assert NONE.search("None") and not NONE.search("Nonesuch") and not NONE.search("无。")

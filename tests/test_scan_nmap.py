"""nmap command lines, runs and scan scope: a hostile corpus refused before anything runs, a
recording launcher that sees only allowed vectors, run()'s failures on fake nmaps, and real nmap
against HTTP servers started here on 127.0.0.x (never any other address)."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import stat
import subprocess
import time
from pathlib import Path

import defusedxml.ElementTree
import pytest
import scan_world

from assets.targets import TargetError
from scans import nmap as scan_nmap
from scans import profiles, scope
from scans.nmap import NmapError, Outcome, command_line, nmap_version, run
from scans.profiles import PROFILES, build_argv, check_argv, port_set
from scans.topports import TOP_100, TOP_1000

pytestmark = pytest.mark.nodb

NMAP = "/usr/bin/nmap"
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
SCOPE = ["127.0.0.0/24", "localhost"]

# A resolver that never asks DNS: the names of the corpus resolve to what an attacker would pick.
NAMES = {
    "localhost": ["127.0.0.1"],
    "evil.example": ["8.8.8.8"],
    "split.example": ["127.0.0.7", "10.0.0.7"],
    "inside.example": ["127.0.0.9", "::ffff:127.0.0.10"],
    "zone.example": ["fe80::1%eth0"],
}


def fake_resolver(host, port, type=0, **_):
    if host not in NAMES:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [(socket.AF_INET, type, 6, "", (address, 0)) for address in NAMES[host]]


# ---------------------------------------------------------------------------------------------
# The hostile corpus

# Refused by build_argv itself: not a normal form, an option, a range, a forbidden or huge block.
NOT_TARGETS = [
    # option injection
    "-iL /etc/passwd",
    "-iL",
    "-oN x",
    "-oN",
    "--script=http-shellshock",
    "--script",
    "--script-args=x",
    "--datadir=/tmp",
    "--datadir",
    "-iR 1000",
    "-iR",
    "--resume /tmp/x",
    "--resume",
    "-sS",
    "-sU",
    "-O",
    "-A",
    "--unprivileged",
    "--privileged",
    "--send-eth",
    "-e eth0",
    "-S 10.0.0.1",
    "-D RND:10",
    "--spoof-mac 0",
    "--excludefile /etc/shadow",
    "-oG -",
    "--stylesheet http://x",
    "--proxies http://x",
    "--interactive",
    "-d9",
    "-p-",
    "--top-ports=65535",
    "--max-rate=1000000",
    "-6",
    "--",
    "-",
    # shell metacharacters
    "127.0.0.1; rm -rf /",
    "127.0.0.1 | nc 10.0.0.1 9",
    "127.0.0.1 && id",
    "$(id)",
    "`id`",
    "127.0.0.1 > /tmp/x",
    "127.0.0.1 < /etc/passwd",
    "127.0.0.1\nid",
    "127.0.0.1\x00-iL",
    "127.0.0.1\r\n-oN x",
    "'127.0.0.1'",
    '"127.0.0.1"',
    "127.0.0.1#",
    "127.0.0.1&",
    "${IFS}id",
    "*",
    "~",
    "127.0.0.1\\",
    # whitespace tricks
    "127.0.0.1\t-sS",
    "127.0.0.1\u00a0",
    "127\u200b.0.0.1",
    "\u00a0127.0.0.1",
    "127.0.0.1 127.0.0.2",
    " 127.0.0.1",
    "127.0.0.1 ",
    "127.0.0.1\u2028",
    "\ufeff127.0.0.1",
    "",
    # unicode digits and homoglyphs
    "١٢٧.٠.٠.١",
    "１２７.0.0.1",
    "127.0.0.\u0661",
    "lоcalhost",
    "ⅼocalhost",
    "127。0。0。1",
    # IPv6 edge cases
    "fe80::1%eth0",
    "::1%lo",
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:1",
    "[::1]",
    "[::1]:80",
    "::/0",
    "::",
    "::1/64",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
    "ff02::1",
    "::1/",
    "::1/0128",
    # host names
    "localhost.",
    "LOCALHOST",
    "0x7f.1",
    "0x7f000001",
    "2130706433",
    "017700000001",
    "127.1",
    "127.0.1",
    "127.000.0.1",
    "a" * 64 + ".com",
    "." * 10,
    "a..b",
    "-localhost",
    "localhost-",
    "example.com/24",
    "http://127.0.0.1/",
    "127.0.0.1:80",
    "user@127.0.0.1",
    "x" * 300,
    # huge ranges and addresses never scanned
    "10.0.0.0/8",
    "0.0.0.0/0",
    "127.0.0.0/8",
    "0.0.0.0",  # noqa: S104 - a refused target, nothing binds to it
    "0.0.0.0/8",
    "255.255.255.255",
    "224.0.0.1",
    "127.0.0.5/24",
    "127.0.0.1/255.255.255.0",
    "127.0.0.1/032",
    # nmap's own range syntax
    "127.0.0.1-5",
    "127.0.0.*",
    "127.0.0.1,2",
    "127.0.0-1.1",
    "127.0.0.0/24,",
    "127.0.0.[1-5]",
]
# Well-formed targets that only the scope check refuses: they never reach build_argv.
OUT_OF_SCOPE = {
    "10.0.0.1": "outside_scope",
    "192.168.1.1": "outside_scope",
    "8.8.8.8": "outside_scope",
    "172.16.0.1": "outside_scope",
    "100.64.0.1": "outside_scope",
    "169.254.169.254": "outside_scope",
    "127.0.1.1": "outside_scope",
    "127.0.0.0/23": "outside_scope",
    "::1": "outside_scope",
    "2001:db8::/120": "outside_scope",
    "evil.example": "outside_scope",
    "split.example": "outside_scope",
    "nowhere.example": "unresolvable",
    "127.0.0.l": "unresolvable",
}
HOSTILE_PORTS = [
    "-p 1-65535", "1-65535", "0", "65536", "80,443", "80/tcp;id", "T:80", "443/tcp\n", "٤٤٣/tcp", "22/icmp", "+80",
    "0x50", "080", "443/tcp/tcp", "443/TCP", "443 ", "", "-1", "--script=x", "443/tcp --script=x", "1e3", "4\u200b43",
]  # fmt: skip


def test_corpus_is_large():
    assert len(NOT_TARGETS) + len(OUT_OF_SCOPE) >= 60
    assert len(set(NOT_TARGETS)) == len(NOT_TARGETS)


@pytest.mark.parametrize("target", NOT_TARGETS)
def test_build_argv_refuses_hostile_targets(target):
    for code in PROFILES:
        with pytest.raises(ValueError):
            build_argv(code, [target])
        with pytest.raises(ValueError):
            build_argv(code, ["127.0.0.42", target])


@pytest.mark.parametrize("target", NOT_TARGETS)
def test_scope_refuses_or_rejects_hostile_targets(target):
    """The scope check either raises (not a normal form) or names the target: never silently covers it,
    except for the few well-formed loopback forms build_argv refuses on its own."""
    try:
        refused = scope.uncovered([target], SCOPE, LOOPBACK, resolver=fake_resolver)
    except TargetError:
        return
    assert target == "::ffff:7f00:1" or [found for found, _ in refused] == [target]


@pytest.mark.parametrize(("target", "reason"), sorted(OUT_OF_SCOPE.items()))
def test_scope_refuses_out_of_scope_targets(target, reason):
    assert scope.uncovered([target], SCOPE, LOOPBACK, resolver=fake_resolver) == [(target, reason)]


@pytest.mark.parametrize("port", HOSTILE_PORTS)
def test_build_argv_refuses_hostile_ports(port):
    for code in PROFILES:
        with pytest.raises(ValueError):
            build_argv(code, ["127.0.0.42"], ports=[port])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_rate": 0},
        {"max_rate": -5},
        {"max_rate": True},
        {"max_rate": 10**9},
        {"max_rate": 2.5},
        {"max_rate": "100"},
        {"nmap": "/bin/sh"},
        {"nmap": "sh"},
        {"nmap": "-iL"},
        {"nmap": "bin/nmap"},
        {"nmap": "/usr/bin/../bin/nmap"},
        {"nmap": "/tmp/x\n/nmap"},  # noqa: S108 - a refused program path, never created
        {"nmap": ""},
        {"ports": "443/tcp"},
        {"ports": [443]},
    ],
)
def test_build_argv_refuses_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        build_argv("quick", ["127.0.0.42"], **kwargs)


@pytest.mark.parametrize(
    "targets",
    [
        [],
        "127.0.0.42",
        b"127.0.0.42",
        [b"127.0.0.42"],
        [None],
        [42],
        ["127.0.0.42", "127.0.0.42"],
        ["127.0.0.42", "::1"],
        [f"127.0.{n // 256}.{n % 256}" for n in range(profiles.MAX_TARGETS + 1)],
        [f"10.{n}.0.0/16" for n in range(2)],
    ],
)
def test_build_argv_refuses_bad_target_lists(targets):
    with pytest.raises(ValueError):
        build_argv("quick", targets)


def test_build_argv_refuses_unknown_profiles():
    for code in ("", "Quick", "aggressive", "-A", None):
        with pytest.raises(ValueError):
            build_argv(code, ["127.0.0.42"])


# ---------------------------------------------------------------------------------------------
# Command lines


def test_argv_of_each_profile():
    common = ["nmap", "--unprivileged", "-n", "-oX", "-", "--max-retries", "2", "-T4"]
    assert build_argv("discovery", ["127.0.0.42"], ports=["8123/tcp"]) == [
        *common, "-sn", "--host-timeout", "60s", "--", "127.0.0.42",
    ]  # fmt: skip
    assert build_argv("quick", ["127.0.0.42"]) == [
        *common, "-sT", "--top-ports", "100", "--host-timeout", "5m", "--", "127.0.0.42",
    ]  # fmt: skip
    assert build_argv("standard", ["127.0.0.42"]) == [
        *common, "-sT", "-sV", "--host-timeout", "20m", "--", "127.0.0.42",
    ]  # fmt: skip
    assert build_argv("full_tcp", ["127.0.0.42"], ports=["8123/tcp"]) == [
        *common, "-sT", "-p", "1-65535", "--host-timeout", "60m", "--", "127.0.0.42",
    ]  # fmt: skip
    quick = build_argv("quick", ["127.0.0.42"], ports=["8123/tcp", "53/udp"])
    assert quick[8:10] == ["-sT", "-p"] and port_set(quick[10][2:]) == port_set(TOP_100) | {8123}
    standard = build_argv("standard", ["127.0.0.42"], ports=["8123/tcp"])
    assert standard[8:11] == ["-sT", "-sV", "-p"] and port_set(standard[11][2:]) == port_set(TOP_1000) | {8123}
    # Expected ports the profile scans anyway change nothing; UDP ones are not scanned (-sT).
    assert build_argv("quick", ["127.0.0.42"], ports=["443/tcp", "161/udp"]) == build_argv("quick", ["127.0.0.42"])
    assert build_argv("standard", ["127.0.0.42"], ports=["3389/tcp"]) == build_argv("standard", ["127.0.0.42"])


def test_rate_family_order_and_program():
    argv = build_argv("quick", ["::1", "fe80::/120", "localhost"], max_rate=50, nmap=NMAP)
    assert argv[0] == NMAP and "-T3" in argv and "-T4" not in argv
    assert argv[-7:] == ["--max-rate", "50", "-6", "--", "::1", "fe80::/120", "localhost"]
    ordered = ["127.0.0.9", "localhost", "127.0.0.0/28", "127.0.0.3"]
    assert build_argv("discovery", ordered)[-4:] == ordered
    assert profiles.split_families(["127.0.0.1", "::1", "localhost", "fe80::/120"]) == [
        ["127.0.0.1", "localhost"],
        ["::1", "fe80::/120"],
    ]


def test_profiles():
    assert profiles.DEFAULT_PROFILE in PROFILES
    assert [profile.rank for profile in PROFILES.values()] == [0, 1, 2, 3]
    assert all(profile.code == code and profile.max_seconds > 0 for code, profile in PROFILES.items())


def test_check_argv_accepts_what_build_argv_makes():
    for code in PROFILES:
        for ports in ((), ("8123/tcp",), ("22/tcp", "65535/tcp", "161/udp")):
            for targets in (["127.0.0.42"], ["127.0.0.0/28", "localhost"], ["::1"]):
                for rate in (None, 1, 500):
                    check_argv(build_argv(code, targets, ports=ports, max_rate=rate))
                    check_argv(tuple(build_argv(code, targets, ports=ports, max_rate=rate, nmap=NMAP)))


# The options a built vector may hold, and the values after those that take one.
ALLOWED_FLAGS = {"--unprivileged", "-n", "-sT", "-sV", "-sn", "-T3", "-T4", "-6"}
ALLOWED_VALUES = {
    "-oX": re.compile(r"-"),
    "--max-retries": re.compile(r"2"),
    "--top-ports": re.compile(r"100"),
    "--host-timeout": re.compile(r"60s|5m|20m|60m"),
    "-p": re.compile(r"1-65535|T:[0-9,\-]+"),
    "--max-rate": re.compile(r"[1-9][0-9]*"),
}


def assert_allowed(argv):
    """The allowlist, independent of check_argv: TCP connect or ping only, unprivileged, known options."""
    check_argv(argv)
    assert argv[0] in {"nmap", NMAP} or Path(argv[0]).name == "nmap"
    split = argv.index("--")
    head = argv[1:split]
    assert "--unprivileged" in head and "-n" in head and ["-oX", "-"] == head[head.index("-oX") : head.index("-oX") + 2]
    assert ("-sT" in head) != ("-sn" in head)
    at = 0
    while at < len(head):
        option = head[at]
        if option in ALLOWED_VALUES:
            assert ALLOWED_VALUES[option].fullmatch(head[at + 1]), head
            at += 2
        else:
            assert option in ALLOWED_FLAGS, option
            at += 1
    for target in argv[split + 1 :]:
        assert not target.startswith("-") and target.isascii() and target.isprintable() and " " not in target


XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    b'<nmaprun scanner="nmap" args="nmap -sn -- 127.0.0.42" start="1" version="7.93" xmloutputversion="1.05">\n'
    b'<runstats><finished time="2" timestr="x" elapsed="0.01" exit="success"/>'
    b'<hosts up="0" down="0" total="0"/></runstats>\n</nmaprun>\n'
)


class FakeProcess:
    def __init__(self, stdout=XML, stderr=b"", returncode=0):
        self.pid = 999999999
        self._answer = (stdout, stderr)
        self.returncode = returncode

    def communicate(self, timeout=None):
        return self._answer

    def poll(self):
        return self.returncode


class Recorder:
    def __init__(self):
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, argv, **kwargs):
        self.calls.append((argv, kwargs))
        return FakeProcess()


def mutations(argv):
    """Vectors one edit away from a valid one: each token removed, doubled or replaced by a hostile one."""
    hostile = ["-sS", "-O", "--script=vuln", "-iL", "/etc/passwd", "-oN", "x", "--privileged", "10.0.0.1", "-p-"]
    for at in range(len(argv) + 1):
        if at < len(argv):
            yield argv[:at] + argv[at + 1 :]
            yield argv[:at] + [argv[at]] + argv[at:]
        for token in hostile:
            yield argv[:at] + [token] + argv[at:]
            if at < len(argv):
                yield argv[:at] + [token] + argv[at + 1 :]


def test_only_allowed_vectors_reach_the_launcher():
    recorder = Recorder()
    attempts = refusals = 0

    def attempt(argv):
        nonlocal attempts, refusals
        attempts += 1
        try:
            outcome = run(argv, timeout=5, launcher=recorder)
        except NmapError as error:
            assert error.reason == "refused"
            refusals += 1
        else:
            assert isinstance(outcome, Outcome) and outcome.xml == XML

    valid = []
    for code in PROFILES:
        for targets in (["127.0.0.42"], ["127.0.0.42", "localhost", "127.0.0.0/29"], ["::1"]):
            for ports, rate in (((), None), (("8123/tcp", "22/tcp"), 100)):
                valid.append(build_argv(code, targets, ports=ports, max_rate=rate))
    for argv in valid:
        attempt(argv)
        for mutated in mutations(argv):
            attempt(mutated)
    # Hostile input can only raise before it becomes a vector; vectors made by hand are refused.
    for target in NOT_TARGETS:
        with pytest.raises(ValueError):
            attempt(build_argv("quick", [target]))
        attempt(["nmap", "--unprivileged", "-sT", "--", target])
        attempt([*valid[0][:-1], target])
    for argv in (
        "nmap -sT -- 127.0.0.42",
        b"nmap",
        [],
        ["nmap"],
        [*valid[0][:-2], "127.0.0.42"],
        [b"nmap", *valid[0][1:]],
        [*valid[0], "--"],
        ["/bin/sh", "-c", "nmap -- 127.0.0.42"],
        ["sudo", *valid[0]],
        [valid[0][0] + " ", *valid[0][1:]],
        ["nmap", *valid[0]],
        [*valid[0][:1], "--script=vuln", *valid[0][1:]],
        [*valid[0][:-1], "127.0.0.42 -iL /etc/passwd"],
        [x.replace("-sT", "-sS") for x in valid[0]],
        [x for x in valid[0] if x != "--unprivileged"],
    ):
        attempt(argv)
    launched = [argv for argv, _ in recorder.calls]
    assert len(launched) == attempts - refusals and refusals > 1000
    assert {tuple(argv) for argv in valid} <= {tuple(argv) for argv in launched}
    for argv, kwargs in recorder.calls:
        assert_allowed(argv)
        assert kwargs == {
            "shell": False,
            "stdin": subprocess.DEVNULL,
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "start_new_session": True,
            "close_fds": True,
        }


# ---------------------------------------------------------------------------------------------
# run() against fake nmaps (scripts named nmap in tmp_path) and fake launchers


def fake_nmap(tmp_path: Path, body: str, *, executable: bool = True) -> str:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "nmap"
    script.write_text("#!/bin/sh\n" + body)
    if executable:
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def gone(pid: int) -> bool:
    """True once the process is dead: no such pid, or a zombie nobody has reaped yet."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in {"Z", "X"}


def test_timeout_kills_the_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    nmap = fake_nmap(tmp_path, f"sleep 60 &\necho $! > {pidfile}\nsleep 60\n")
    start = time.monotonic()
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=nmap), timeout=1)
    assert caught.value.reason == "timeout"
    assert time.monotonic() - start < 10
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(child), "the background sleep of the fake nmap survived"


def test_missing_nmap(tmp_path):
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=str(tmp_path / "nowhere" / "nmap")), timeout=5)
    assert caught.value.reason == "nmap_missing"
    with pytest.raises(NmapError) as caught:
        nmap_version(str(tmp_path / "nowhere" / "nmap"))
    assert caught.value.reason == "nmap_missing"


def test_not_executable_nmap_is_a_failure_not_an_oserror(tmp_path):
    nmap = fake_nmap(tmp_path, "exit 0\n", executable=False)
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=nmap), timeout=5)
    assert caught.value.reason == "nmap_failed"


def test_launcher_os_errors_are_wrapped():
    def failing(argv, **kwargs):
        raise OSError(12, "Cannot allocate memory")

    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"]), timeout=5, launcher=failing)
    assert caught.value.reason == "nmap_failed" and "memory" in caught.value.detail


def test_non_zero_exit(tmp_path):
    nmap = fake_nmap(
        tmp_path, "echo 'Failed to open: boom' >&2\necho second >&2\n" + "echo " + "x" * 500 + " >&2\nexit 1\n"
    )
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=nmap), timeout=5)
    assert caught.value.reason == "nmap_failed" and caught.value.detail == "Failed to open: boom"
    long = fake_nmap(tmp_path, "echo " + "y" * 500 + " >&2\nexit 2\n")
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=long), timeout=5)
    assert len(caught.value.detail) <= 200


@pytest.mark.parametrize(
    "stdout",
    [b"", XML[: XML.index(b"</nmaprun>")], XML[:40], b"<nmaprun>", b"garbage"],
)
def test_missing_or_truncated_xml(stdout):
    def launcher(argv, **kwargs):
        return FakeProcess(stdout=stdout, stderr=b"")

    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"]), timeout=5, launcher=launcher)
    assert caught.value.reason == "nmap_failed"


def test_truncated_xml_from_a_fake_nmap(tmp_path):
    nmap = fake_nmap(tmp_path, 'printf \'<?xml version="1.0"?>\\n<nmaprun args="nmap">\\n<host>\'\nexit 0\n')
    with pytest.raises(NmapError) as caught:
        run(build_argv("quick", ["127.0.0.42"], nmap=nmap), timeout=5)
    assert caught.value.reason == "nmap_failed"


def test_fake_nmap_success(tmp_path):
    (tmp_path / "out.xml").write_bytes(XML)
    nmap = fake_nmap(tmp_path, f"cat {tmp_path / 'out.xml'}\necho warning >&2\n")
    outcome = run(build_argv("discovery", ["127.0.0.42"], nmap=nmap), timeout=5)
    assert outcome.xml == XML and outcome.stderr == "warning\n" and outcome.returncode == 0
    assert outcome.started_at <= outcome.finished_at and outcome.elapsed >= 0
    assert command_line(outcome.xml) == "nmap -sn -- 127.0.0.42"


def test_run_refuses_bad_timeouts():
    for timeout in (0, -1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError):
            run(build_argv("quick", ["127.0.0.42"]), timeout=timeout, launcher=Recorder())


def test_nmap_error():
    error = NmapError("nmap_failed", "first\nsecond")
    assert error.reason == "nmap_failed" and error.detail == "first" and str(error) == "nmap_failed: first"
    with pytest.raises(ValueError):
        NmapError("other")


def test_command_line_refuses_what_is_not_nmap_xml():
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><nmaprun args="&b;"/>'
    for data in (b"", b"<nmaprun", bomb, b"<other/>", b'<nmaprun args="x"/>'):
        with pytest.raises(ValueError):
            command_line(data)


# ---------------------------------------------------------------------------------------------
# Scope


def test_scope_covers():
    allowed = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("fd00::/64")]
    assert scope.uncovered(["127.0.0.42", "127.0.0.0/25", "localhost"], SCOPE, allowed, resolver=fake_resolver) == []
    # A block spanning two adjacent scope entries is covered; one reaching beyond them is not.
    assert scope.uncovered(["127.0.0.0/23"], ["127.0.0.0/24", "127.0.1.0/24"], allowed) == []
    assert scope.uncovered(["127.0.0.0/22"], ["127.0.0.0/24", "127.0.1.0/24"], allowed) == [
        ("127.0.0.0/22", "outside_scope")
    ]
    # Names: named in the scope, or all their addresses inside it; mapped addresses count as IPv4.
    assert scope.uncovered(["inside.example"], ["127.0.0.0/28"], allowed, resolver=fake_resolver) == []
    assert scope.uncovered(["inside.example"], ["127.0.0.9"], allowed, resolver=fake_resolver) == [
        ("inside.example", "outside_scope")
    ]
    assert scope.uncovered(["split.example"], ["split.example"], allowed, resolver=fake_resolver) == [
        ("split.example", "outside_allowed")
    ]
    assert scope.uncovered(["evil.example"], ["evil.example"], allowed, resolver=fake_resolver) == [
        ("evil.example", "outside_allowed")
    ]
    # Inside the authorization, outside the environment's ceiling.
    assert scope.uncovered(["10.0.0.1", "fd00::1", "fd01::1"], ["10.0.0.0/24", "fd00::/8"], allowed) == [
        ("10.0.0.1", "outside_allowed"),
        ("fd01::1", "outside_allowed"),
    ]
    # IPv4-mapped addresses are checked as the IPv4 address they reach.
    assert scope.uncovered(["::ffff:a00:1"], ["::/0"], [ipaddress.ip_network("::/0")]) == [
        ("::ffff:a00:1", "outside_scope")
    ]
    assert scope.uncovered(["::ffff:7f00:1"], ["127.0.0.0/24"], allowed) == []
    assert scope.uncovered(["zone.example"], ["zone.example"], allowed, resolver=fake_resolver) == [
        ("zone.example", "outside_allowed")
    ]
    assert scope.uncovered([], SCOPE, allowed) == []
    with pytest.raises(TargetError):
        scope.uncovered(["127.0.0.1"], ["127.0.0.0/24 "], allowed)


def test_resolve():
    assert scope.resolve("127.0.0.0/24") == ["127.0.0.0/24"]
    assert scope.resolve("::1") == ["::1"]
    assert scope.resolve("inside.example", resolver=fake_resolver) == ["127.0.0.9", "::ffff:7f00:a"]
    assert scope.resolve("zone.example", resolver=fake_resolver) == ["fe80::1"]
    assert scope.resolve("nowhere.example", resolver=fake_resolver) == []
    assert scope.resolve("localhost") == ["127.0.0.1"] or "127.0.0.1" in scope.resolve("localhost")

    def broken(*args, **kwargs):
        raise UnicodeError("label too long")

    assert scope.resolve("localhost", resolver=broken) == []
    with pytest.raises(TargetError):
        scope.resolve("-iL")


# ---------------------------------------------------------------------------------------------
# Real nmap against servers started here, on 127.0.0.x only


@pytest.fixture
def http_server():
    """An HTTP server on 127.0.0.42 and a free port."""
    with scan_world.http_server("127.0.0.42") as port:
        yield ("127.0.0.42", port)


def _name(port) -> str:
    service = port.find("service")
    return "" if service is None else service.get("name")


def ports_of(xml: bytes) -> dict[int, tuple[str, str]]:
    root = defusedxml.ElementTree.fromstring(xml)
    return {
        int(port.get("portid")): (port.find("state").get("state"), port.findtext("service[@name]") or _name(port))
        for port in root.iter("port")
    }


def timed_run(argv):
    check_argv(argv)
    assert all(
        ipaddress.ip_network(target).is_loopback for target in argv[argv.index("--") + 1 :]
    )  # the network rule: loopback only
    started = time.monotonic()
    outcome = run(argv, timeout=120)
    timeout = argv[argv.index("--host-timeout") + 1]
    code = next(code for code, profile in PROFILES.items() if profile.options[-1] == timeout)
    print(f" [{code} {time.monotonic() - started:.2f} s]", end="")
    return outcome


def test_real_standard_scan_sees_http_on_an_expected_port(http_server):
    host, port = http_server
    argv = build_argv("standard", [host], ports=[f"{port}/tcp"], nmap=NMAP)
    outcome = timed_run(argv)
    assert ports_of(outcome.xml)[port] == ("open", "http")
    assert command_line(outcome.xml) == " ".join(argv)


def test_real_quick_scan_adds_the_expected_port(http_server):
    host, port = http_server
    assert port not in port_set(TOP_100)
    argv = build_argv("quick", [host], ports=[f"{port}/tcp"])
    outcome = timed_run(argv)
    assert ports_of(outcome.xml)[port][0] == "open"
    assert command_line(outcome.xml) == " ".join(argv)


def test_real_full_tcp_scan(http_server):
    host, port = http_server
    argv = build_argv("full_tcp", [host], nmap=NMAP)
    outcome = timed_run(argv)
    assert ports_of(outcome.xml)[port][0] == "open"
    assert b'numservices="65535"' in outcome.xml
    assert command_line(outcome.xml) == " ".join(argv)


def test_real_discovery(http_server):
    host, _ = http_server
    argv = build_argv("discovery", [host, "127.0.0.43"])
    outcome = timed_run(argv)
    root = defusedxml.ElementTree.fromstring(outcome.xml)
    assert [address.get("addr") for address in root.iter("address")] == [host, "127.0.0.43"]
    assert not list(root.iter("port"))
    assert command_line(outcome.xml) == " ".join(argv)


def test_real_ipv6_needs_minus_6():
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        outcome = timed_run(build_argv("quick", ["::1"], ports=[f"{port}/tcp"]))
    assert ports_of(outcome.xml)[port][0] == "open"


def test_top_ports_are_nmaps():
    """The spelled-out lists equal what the installed nmap scans for --top-ports 100 and by default."""
    for code, listed in (("quick", TOP_100), ("standard", TOP_1000)):
        outcome = timed_run(build_argv(code, ["127.0.0.43"]))  # nothing listens there: no -sV work
        scaninfo = defusedxml.ElementTree.fromstring(outcome.xml).find("scaninfo")
        assert scaninfo.get("services") == listed


def test_nmap_version():
    assert re.fullmatch(r"[0-9]+\.[0-9]+.*", nmap_version(NMAP))
    assert nmap_version() == nmap_version(NMAP)
    assert scan_nmap.REASONS == ("nmap_missing", "nmap_failed", "timeout", "refused")
    assert os.path.basename(NMAP) == "nmap"

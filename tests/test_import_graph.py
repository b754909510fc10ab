"""The import graph of the app's packages: no cycles, function-local imports counted (grimp reads
every import statement), and only the registry of the core imports a domain package. The
import-linter contracts in pyproject.toml (`make lint`) state the layering; a cycle that runs
across top-level packages is something they cannot see, hence this test."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("secgov", "assets", "assessments", "scans", "drills")
DOMAINS = ("assets", "assessments", "scans", "drills")

pytestmark = pytest.mark.nodb


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)


def cycles(graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    assert cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_only_the_registry_imports_the_domain_packages(graph):
    importers = {
        importer
        for domain in DOMAINS
        for module in (domain, *graph.find_descendants(domain))
        for importer in graph.find_modules_that_directly_import(module)
        if importer.split(".")[0] == "secgov"
    }
    assert importers == {"secgov.domains"}

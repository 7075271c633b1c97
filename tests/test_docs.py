"""The docs cannot drift: the API page agrees with the OpenAPI schema the app serves."""

from __future__ import annotations

import re
from pathlib import Path

from litestar.testing import AsyncTestClient

DOCS = Path(__file__).resolve().parent.parent / "docs"
ROUTE_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \|", re.MULTILINE)


def documented_routes() -> set[tuple[str, str]]:
    text = (DOCS / "api.md").read_text("utf-8")
    return {(method, path) for method, path in ROUTE_ROW.findall(text)}


async def served_routes(client: AsyncTestClient) -> set[tuple[str, str]]:
    schema = (await client.get("/schema/openapi.json")).json()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


async def test_api_page_lists_exactly_the_routes_in_the_openapi_schema(client) -> None:
    served = await served_routes(client)
    documented = documented_routes()
    assert served, "the app serves an OpenAPI schema with routes"
    assert served - documented == set(), "routes missing from docs/api.md"
    assert documented - served == set(), "docs/api.md names routes the app does not serve"


def test_design_page_names_every_token_of_the_stylesheet() -> None:
    css = (Path(__file__).resolve().parent.parent / "pwa" / "app.css").read_text("utf-8")
    tokens = set(re.findall(r"^\s+(--[a-z0-9-]+):", css, re.MULTILINE))
    page = (DOCS / "design.md").read_text("utf-8")
    documented = set(re.findall(r"`(--[a-z0-9-]+)`", page))
    # A row like `--space-1` … `--space-6` stands for the run between its ends.
    for first, last in re.findall(r"`(--[a-z-]+)1` … `\1(\d)`", page):
        documented |= {f"{first}{i}" for i in range(1, int(last) + 1)}
    assert tokens, "the stylesheet defines tokens"
    assert tokens - documented == set(), "tokens missing from docs/design.md"
    assert documented - tokens == set(), "docs/design.md names tokens the stylesheet lacks"


def test_architecture_page_names_every_module_of_the_server() -> None:
    server = Path(__file__).resolve().parent.parent / "server"
    # A package (a folder with __init__.py, like server/admin/) is named as `server/admin/`,
    # and each module in it as `server/admin/<name>.py`.
    packages = {p.parent for p in server.glob("*/__init__.py")}
    modules = {
        p.relative_to(server).as_posix()
        for folder in (server, *packages)
        for p in folder.glob("*.py")
        if p.name != "__init__.py"
    }
    page = (DOCS / "architecture.md").read_text("utf-8")
    named = set(re.findall(r"`server/((?:[a-z0-9_]+/)?[a-z0-9_]+\.py)`", page))
    folders = set(re.findall(r"`server/([a-z0-9_]+)/`", page))
    assert modules - named == set(), "modules missing from docs/architecture.md"
    assert named - modules == set(), "docs/architecture.md names modules that do not exist"
    assert {p.name for p in packages} - folders == set(), "packages missing from the page"
    assert {f for f in folders if not (server / f).is_dir()} == set(), "named folders missing"


def test_readme_links_every_page_of_the_docs() -> None:
    readme = (DOCS.parent / "README.md").read_text("utf-8")
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    pages = {page.name for page in DOCS.glob("*.md")}
    assert pages - linked == set(), "docs pages the README does not link"
    assert linked - pages == set(), "README links to docs pages that do not exist"

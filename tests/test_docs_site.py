"""The docs site (mkdocs.yml, docs/) covers every public name and every gallery notebook.

`mkdocs build --strict` (in .ci/run, with the ``docs`` extra) renders the pages; these checks need
no mkdocs and fail fast: a new public name without an API entry, a notebook missing from the nav,
or a nav entry pointing at nothing.
"""

import re
from pathlib import Path

import lazylinops as ll

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
API_ENTRY = re.compile(r"^::: lazylinops\.(\w+)\s*$", re.M)


def api_entries():
    """``{name: page}`` for every ``::: lazylinops.NAME`` line of docs/api/*.md (a name twice is an error)."""
    entries, twice = {}, []
    for page in sorted((DOCS / "api").glob("*.md")):
        for name in API_ENTRY.findall(page.read_text(encoding="utf-8")):
            if name in entries:
                twice.append(f"{name} ({entries[name]} and {page.name})")
            entries[name] = page.name
    assert not twice, f"documented twice in docs/api/: {twice}"
    return entries


def nav_paths():
    """The page paths (``*.md``, ``*.ipynb``, relative to docs/) listed under ``nav:`` in mkdocs.yml."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    return re.findall(r"^\s*-\s+(?:[^:\n]+:\s+)?(\S+\.(?:md|ipynb))\s*$", nav, re.M)


def test_every_public_name_has_an_api_entry():
    entries = api_entries()
    missing = sorted(set(ll.__all__) - set(entries))
    assert not missing, (
        f"public names without an API reference entry: {missing}; add a '::: lazylinops.NAME' line "
        "to the page of their group in docs/api/"
    )


def test_every_api_entry_is_a_public_name():
    stale = sorted(set(api_entries()) - set(ll.__all__))
    assert not stale, f"docs/api/ documents names that are not in lazylinops.__all__: {stale}"


def test_nav_entries_exist_and_cover_api_pages_and_notebooks():
    nav = nav_paths()
    assert "index.md" in nav and "contributing.md" in nav, nav
    missing = [p for p in nav if not (DOCS / p).exists()]
    assert not missing, f"mkdocs.yml nav lists pages that do not exist under docs/: {missing}"
    api_pages = {f"api/{p.name}" for p in (DOCS / "api").glob("*.md")}
    assert api_pages <= set(nav), f"API pages not in the nav: {sorted(api_pages - set(nav))}"
    notebooks = {f"gallery/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert notebooks <= set(nav), (
        f"notebooks missing from the Gallery in mkdocs.yml's nav: {sorted(notebooks - set(nav))}; "
        "add them there and to docs/gallery.md"
    )


def test_gallery_page_links_every_notebook():
    page = (DOCS / "gallery.md").read_text(encoding="utf-8")
    unlinked = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if f"(gallery/{p.name})" not in page)
    assert not unlinked, f"docs/gallery.md does not link these notebooks: {unlinked}"

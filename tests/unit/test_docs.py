"""The architecture docs name only files that exist, and point nowhere outside the repository."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "orchestrator" / "parley"
DOCS = REPO / "docs"


def package_paths(text: str, groups: list[str]) -> set[str]:
    """``group/file.py`` and ``group/sub/`` names in ``text`` for the package's groups."""
    pattern = rf"\b((?:{'|'.join(groups)})/[\w/]*(?:\.py|/))"
    return set(re.findall(pattern, text))


def test_every_file_the_diagram_names_exists():
    named = []
    cluster = ""
    for line in (DOCS / "diagrams" / "loop.dot").read_text().splitlines():
        if m := re.search(r'subgraph cluster_\w+ \{ label="(\w+)/', line):
            cluster = m.group(1)
        elif line.strip() == "}":
            cluster = ""
        elif m := re.search(r'\[label="([^"\\]+)', line):  # a node: its files, before the first \n
            named += [PACKAGE / cluster / name for name in re.findall(r"[\w/]+\.py|\w+/", m.group(1))]
    assert len(named) > 15
    assert not [str(p.relative_to(PACKAGE)) for p in named if not p.exists()]
    assert (DOCS / "diagrams" / "loop.svg").stat().st_size > 0


def test_the_architecture_page_names_real_modules():
    text = (DOCS / "architecture.md").read_text()
    groups = [p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"]
    named = package_paths(text, groups)
    assert len(named) >= 15
    assert not [n for n in named if not (PACKAGE / n).exists()]


def test_docs_point_nowhere_outside_the_repository():
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        assert "DESIGN" not in text, f"{page.name} refers to notes users do not have"

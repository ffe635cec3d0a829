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


def tree_names(text: str) -> set[str]:
    """The package's files as the architecture page's tree names them: a line starting with ``group/``
    opens a group, its continuation lines stay in it; ``sub/ (a.py, b.py)`` names files in ``sub/``."""
    block = text.split("```\norchestrator/parley/\n", 1)[1].split("```", 1)[0]
    groups: dict[str, str] = {"": ""}
    group = ""
    for line in block.splitlines():
        if m := re.match(r"  (\w+/)", line):
            group = m.group(1)
        elif re.match(r"  \w+\.py", line):
            group = ""
        groups[group] = groups.get(group, "") + " " + (line[19:] if group else line)
    named = set()
    inner = r"\(((?:[^()]|\([^()]*\))*)\)"  # one level of nested parentheses
    for group, body in groups.items():
        for sub, inside in re.findall(r"(\w+/) " + inner, body):  # a subfolder's own files
            named.update(group + sub + name for name in re.findall(r"\w+\.py", inside))
        named.update(group + name for name in re.findall(r"\b\w+\.py", re.sub(r"\w+/ " + inner, "", body)))
    return named


def test_the_architecture_tree_names_every_module_and_only_real_ones():
    text = (DOCS / "architecture.md").read_text()
    named = tree_names(text)
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py") and "__pycache__" not in p.parts}
    assert sorted(modules - named) == [], "modules the architecture page does not name"
    assert sorted(named - modules - {"__init__.py"}) == [], "names in the architecture page that are no module"


def test_docs_point_nowhere_outside_the_repository():
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        assert "DESIGN" not in text, f"{page.name} refers to notes users do not have"


def test_the_documented_chat_templates_render_a_conversation():
    import yaml

    from parley.engines.chat_template import ChatTemplate

    text = (DOCS / "configuration.md").read_text()
    blocks = [yaml.safe_load(b)["chat_template"] for b in re.findall(r"```yaml\n(chat_template: .*?)```", text, re.S)]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Where is the library?"}]
    rendered = [ChatTemplate(source).render(messages) for source in blocks]
    llama3, qwen, gemma, mistral = rendered
    assert llama3.endswith("Where is the library?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert llama3.startswith("<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>")
    assert qwen == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
                    "Hello!<|im_end|>\n<|im_start|>user\nWhere is the library?<|im_end|>\n<|im_start|>assistant\n")
    assert gemma == ("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
                     "<start_of_turn>user\nWhere is the library?<end_of_turn>\n<start_of_turn>model\n")
    assert mistral == "[INST] Be brief.\n\nHi [/INST] Hello!</s>[INST] Where is the library? [/INST]"

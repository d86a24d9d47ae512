"""The user docs keep up with the program: every command `userec help` lists has a section in docs/cli.md naming
each of its options, and every relative link in the README and docs/ points at a file that exists."""
import os
import re

import common
from common import BIN, ROOT, run


def commands():
    """The command names of `userec help`."""
    out = run([BIN, "help"]).stdout
    listed = out.split("commands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+) ", listed, re.M) if m.group(1) != "help"]


def sections(path):
    """{heading: text} of a markdown file's level-2 sections."""
    with open(path) as f:
        parts = re.split(r"^## ", f.read(), flags=re.M)
    return {p.split("\n", 1)[0].strip(): p for p in parts[1:]}


@common.quick
def test_every_command_and_option_is_in_docs_cli_md():
    docs = sections(os.path.join(ROOT, "docs", "cli.md"))
    missing = []
    for cmd in commands():
        if cmd not in docs:
            missing.append(f"{cmd}: no '## {cmd}' section")
            continue
        usage = run([BIN, cmd, "--help"]).stdout
        for option in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[ko])\b", usage))):
            if option not in docs[cmd]:
                missing.append(f"{cmd}: {option}")
    assert not missing, "docs/cli.md lacks: " + "; ".join(missing)


@common.quick
def test_relative_links_resolve():
    broken = []
    pages = [os.path.join(ROOT, "README.md")] + [os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                                                if n.endswith(".md")]
    for page in pages:
        with open(page) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            if not os.path.exists(os.path.join(os.path.dirname(page), target)):
                broken.append(f"{os.path.relpath(page, ROOT)} -> {target}")
    assert not broken, "broken links: " + "; ".join(broken)

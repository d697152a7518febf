#!/usr/bin/env python3
"""Regenerates the configuration table in README.md from config/keys.go.

config's TestReadmeListsEveryKey fails when the two drift apart; run this to
bring the README back in line:  python3 scripts/config-table.py
"""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "config" / "keys.go").read_text()
rows = []
for m in re.finditer(r'\{Name: "([^"]+)", Env: \[\]string\{([^}]*)\}(?:, Default: ([^,]*?(?:\{[^}]*\})?))?, Help: "((?:[^"\\]|\\.)*)"', src):
    name, env, default, help_ = m.groups()
    envs = ", ".join("`%s`" % e.strip().strip('"') for e in env.split(","))
    flag = "`--%s`" % name.replace("_", "-")
    d = (default or "").strip()
    if d.startswith("[]string{"):
        d = d[len("[]string{"):-1].replace('"', "").replace(", ", " ")
    d = d.strip('"')
    help_ = help_.replace('\\"', '"').replace("|", "\\|")
    rows.append(f"| `{name}` | {envs} | {flag} | {('`' + d + '`') if d else '—'} | {help_} |")
table = "| YAML key | environment | flag | default | meaning |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
readme = root / "README.md"
text = readme.read_text()
i = text.index("| YAML key | environment |")
j = text.index("\n\n", i) + 1
readme.write_text(text[:i] + table + text[j:])
print(f"README.md: {len(rows)} settings")

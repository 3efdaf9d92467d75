"""docs/benchmarks.md is written by several scripts, each owning one section: bench/compare.sh
the main tables (the top, without a marker), bench/compare.sh --all-cifar the sweep,
bench/scaling.sh the data-parallel scaling. Each replaces its own section and keeps the others,
through a temporary file renamed into place."""
import os
import tempfile

ORDER = ["main", "sweep", "scaling"]
MARK = "<!-- section: {} (generated; do not edit by hand) -->"


def read(path):
    """{section name: text} of an existing file (empty when there is none)."""
    if not os.path.exists(path):
        return {}
    text = open(path).read()
    sections, name, lines = {}, "main", []
    for line in text.split("\n"):
        found = next((n for n in ORDER if line == MARK.format(n)), None)
        if found:
            sections[name] = "\n".join(lines).strip("\n")
            name, lines = found, []
        else:
            lines.append(line)
    sections[name] = "\n".join(lines).strip("\n")
    return {k: v for k, v in sections.items() if v}


def write(path, name, lines, placeholder_main=None):
    """Replaces section `name` of `path` with `lines`; writes `placeholder_main` as the top when
    the file has none yet."""
    sections = read(path)
    sections[name] = "\n".join(lines).strip("\n")
    if "main" not in sections and placeholder_main:
        sections["main"] = "\n".join(placeholder_main)
    parts = [sections["main"]] if "main" in sections else []
    parts += [MARK.format(n) + "\n\n" + sections[n] for n in ORDER[1:] if n in sections]
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".")
    with os.fdopen(fd, "w") as f:
        f.write("\n\n".join(parts) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)

"""Debtags: a real multi-path corpus that any Debian or Ubuntu machine already holds.

Debian's package index (the ``Packages`` files that ``apt-get update`` downloads) gives, for each
binary package, a one-line description written by its maintainers and, for about half of them, a
set of Debtags (``facet::tag``, e.g. ``devel::editor, implemented-in::c, interface::commandline``)
assigned by the Debtags project's contributors. Read as a two-level taxonomy (facet → tag), most
packages carry several paths: a real hierarchical multi-label text corpus, with no download beyond
the index. On Debian bookworm (main, amd64): 30,300 tagged packages, 598 tags in 31 facets, 68%
of the packages with several tags.

Source and terms: the index is published with the Debian archive; the descriptions are part of
each package (Debian main holds only DFSG-free software, each package under its own licence);
the tags come from the Debtags project (https://wiki.debian.org/Debtags).

>>> text = "Package: vim\\nDescription: Vi IMproved - enhanced vi editor\\nTag: devel::editor, role::program\\n"
>>> parse_packages(text)
{'vim': ('Vi IMproved - enhanced vi editor', ['devel::editor', 'role::program'])}
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from htc.taxonomy import Taxonomy

SOURCE = ("Debian package index (Packages files fetched by apt-get update): package short "
          "descriptions and their Debtags (facet::tag)")
LICENCE = ("Debian main: every package DFSG-free under its own licence (the descriptions are part "
           "of the packages); tags by the Debtags project")


class DebtagsError(RuntimeError):
    """No readable ``Packages`` file with tags."""


def packages_files() -> list[Path]:
    """The ``Packages`` files of the enabled apt sources (``apt-get indextargets``)."""
    apt = shutil.which("apt-get")
    if apt is None:
        raise DebtagsError("apt-get not found: the Debtags corpus is read from Debian's package "
                           "index; on another system pass the path of a Packages file")
    out = subprocess.run([apt, "indextargets", "--format", "$(FILENAME)",
                          "Identifier: Packages"], capture_output=True, text=True, check=False)
    files = [Path(line) for line in out.stdout.split() if line]
    found = [f for f in files if f.is_file()]
    if not found:
        raise DebtagsError("no Packages file in apt's lists: run `apt-get update` first (as root), "
                           "or pass the path of a Packages file")
    return found


def read_packages_file(path: str | Path) -> str:
    """The text of a ``Packages`` file: plain, .gz, .xz, .bz2 or .lz4 (.lz4 via apt-helper)."""
    path = Path(path)
    if not path.is_file():
        raise DebtagsError(f"{path}: no such Packages file")
    suffix = path.suffix
    if suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
    if suffix == ".xz":
        return lzma.decompress(path.read_bytes()).decode("utf-8", "replace")
    if suffix == ".bz2":
        return bz2.decompress(path.read_bytes()).decode("utf-8", "replace")
    if suffix == ".lz4":
        helper = Path("/usr/lib/apt/apt-helper")
        if not helper.is_file():
            raise DebtagsError(f"{path}: reading .lz4 needs apt's apt-helper")
        out = subprocess.run([str(helper), "cat-file", str(path)], capture_output=True, check=False)
        if out.returncode != 0:
            raise DebtagsError(f"{path}: apt-helper cat-file failed: "
                               f"{out.stderr.decode(errors='replace').strip()}")
        return out.stdout.decode("utf-8", "replace")
    return path.read_text(encoding="utf-8", errors="replace")


def parse_packages(text: str) -> dict[str, tuple[str, list[str]]]:
    """``{package: (short description, tags)}`` for the tagged packages of a ``Packages`` text
    (the first record of a package wins; tags without ``::`` are skipped)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for record in text.split("\n\n"):
        name = desc = None
        tags: list[str] = []
        field = None
        for line in record.split("\n"):
            if line.startswith((" ", "\t")):
                if field == "Tag":
                    tags += [t.strip() for t in line.split(",") if t.strip()]
                continue
            field, _, value = line.partition(":")
            value = value.strip()
            if field == "Package":
                name = value
            elif field == "Description":
                desc = value
            elif field == "Tag":
                tags = [t.strip() for t in value.split(",") if t.strip()]
        tags = [t for t in tags if "::" in t]
        if name and desc and tags and name not in out:
            out[name] = (desc, tags)
    return out


@dataclass
class Debtags:
    """The corpus: ``texts[i]`` (short description) of package ``names[i]`` with labels ``y[i]``."""

    names: list[str]
    texts: list[str]
    y: sp.csr_matrix
    taxonomy: Taxonomy
    files: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def summary(self) -> dict:
        from htc.stats import dataset_statistics

        stats = dataset_statistics(self.y, self.taxonomy)
        return {"documents": len(self), "labels": len(self.taxonomy),
                "facets": len(self.taxonomy.root_children),
                "multi_path_share": stats["multi_path_docs"] / max(1, stats["documents"]),
                "labels_per_doc": stats["labels_per_doc_mean"],
                "paths_per_doc": stats["paths_per_doc_mean"],
                "source": SOURCE, "licence": LICENCE, "files": self.files}


def load_debtags(files: list[str | Path] | None = None) -> Debtags:
    """Tagged packages of ``files`` (default: apt's ``Packages`` files), sorted by name, with the
    two-level taxonomy facet → ``facet::tag`` (a tag's parent is its facet)."""
    paths = [Path(f) for f in files] if files else packages_files()
    packages: dict[str, tuple[str, list[str]]] = {}
    for path in paths:
        for name, value in parse_packages(read_packages_file(path)).items():
            packages.setdefault(name, value)
    if not packages:
        raise DebtagsError(f"no tagged package in {', '.join(map(str, paths))} (Debian's index "
                           "has a Tag field; some derivatives' indexes do not)")
    names = sorted(packages)
    tags = sorted({t for _, ts in packages.values() for t in ts})
    taxonomy = Taxonomy.from_paths([[t.split("::")[0], t] for t in tags])
    y = taxonomy.indicator([packages[n][1] for n in names])
    return Debtags(names, [packages[n][0] for n in names], sp.csr_matrix(y, dtype=np.int8),
                   taxonomy, [str(p) for p in paths])

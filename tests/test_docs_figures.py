"""Each named figure is stated with one value across README.md and docs/*.md: a page that restates it
differently fails. Every figure names its single source (the page that measures it) and patterns that
find any statement of it; the source must state it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NUM = r"(?P<v>[−-]?\d+(?:\.\d+)?)"

# name → (source page, value, patterns with a group "v" capturing the stated value)
FIGURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "tiny-n4 start: sampled accuracy at T = 1 on the studies' 256 held-out 5-digit problems": (
        "docs/critkl-testbed.md", "11.7",
        (NUM + r"% of (?:the studies'|their|its) 256 held-out",
         NUM + r"% sampled at T = 1 \(the 256 held-out problems",
         NUM + r"% of held-out 5-digit problems solved when\s+sampling at T = 1")),
    "tiny-n4 start: sampled accuracy at T = 1 on the mechanism study's 1,024 held-out problems": (
        "docs/critkl-testbed.md", "9.5", (NUM + r"% of the\s+mechanism study's 1,024",)),
    "tiny-n4 start: held-out p(gold) on the studies' 256 problems": (
        "docs/critkl-testbed.md", "0.078",
        (r"256 held-out 5-digit problems \(p\(gold\) " + NUM, r"Start model: p\(gold\) " + NUM)),
    "kl-strength: wall time on 2 cores (h)": (
        "docs/critkl-results.md", "4.6",
        (r"kl-strength[^\n|]*?(?:~|about )" + NUM + r" h\b", r"\| kl-strength \| `[^`]*` \| about " + NUM + r" h")),
    "kl-strength: paper-β prioritized − standard at α = 5, verdict": (
        "docs/critkl-results.md", "INCONCLUSIVE",
        (r"\+0\.021[^\n]{0,60}?(?P<v>REPRODUCED|INCONCLUSIVE|REFUTED)",
         r"(?P<v>REPRODUCED|INCONCLUSIVE|REFUTED)[^\n)]{0,60}?\+0\.021")),
    "kl-strength: calibrated-β prioritized − standard at α = 5, verdict": (
        "docs/critkl-results.md", "REFUTED",
        (r"[−-]0\.033[^\n]{0,60}?(?P<v>REPRODUCED|INCONCLUSIVE|REFUTED)",)),
    "kl-strength: standard KL α = 5, held-out accuracy gain over the start (start noise included)": (
        "docs/critkl-results.md", "−0.001 ± 0.040",
        (r"standard KL (?:\(α=5\)|at α = 5) (?:ends\s+at )?(?P<v>[−-]?0\.\d+ ± 0\.\d+)",)),
    "prioritized-kl: prioritized − standard, verdict": (
        "docs/critkl-results.md", "INCONCLUSIVE",
        (r"(?P<v>REPRODUCED|INCONCLUSIVE|REFUTED|NOT REPRODUCED)[^\n]{0,60}?\+0\.020 ± 0\.030",)),
    "prioritized-kl: time per run (min)": (
        "docs/critkl-results.md", "4.5–7.2",
        (r"eval_every=10\.\n\nTime per run \(the last `wall_s` of each log\): (?P<v>[\d.–]+) min",
         r"1,600 episodes \((?P<v>[\d.–]+) min per run\)")),
    "pretraining: tiny-n3 (N = 3) training time on 2 threads (min)": (
        "docs/critkl-results.md", "33",
        (r"about " + NUM + r" min for 1,500 steps", r"the same 1,500 steps take about " + NUM + r" min", r"about " + NUM
         + r" min of training for N = 3", r"about \d+ min \(" + NUM + r" of training")),
    "htc: the paper's training epochs (the official configs' end_epoch)": (
        "docs/htc-results.md", "20",
        (r"Runs use (?P<v>\d+) epochs, the official configs' `end_epoch`",
         r"paper's official configs train (?P<v>\d+) epochs", r"batch 32, (?P<v>\d+) epochs \(the paper's\)",
         r"paper's schedule \(batch 32, (?P<v>\d+) epochs\)", r"the paper's (?:official )?configs: (?P<v>\d+)")),
}


def statements(patterns: tuple[str, ...], pages: list[Path] = PAGES) -> list[tuple[str, str]]:
    """``(page, value)`` of every statement that ``patterns`` find (minus signs as "−")."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name
        for pat in patterns:
            found += [(name, m.group("v").replace("-", "−")) for m in re.finditer(pat, text)]
    return found


@pytest.mark.parametrize("name", list(FIGURES))
def test_a_figure_is_stated_one_way(name):
    source, value, patterns = FIGURES[name]
    found = statements(patterns)
    assert any(page == source for page, _ in found), f"{name}: its source {source} does not state it"
    wrong = [(page, v) for page, v in found if v != value.replace("-", "−")]
    assert not wrong, f"{name} is {value} in {source} but stated otherwise: {wrong}"


def test_the_checker_finds_a_restated_figure(tmp_path):
    page = tmp_path / "other.md"
    page.write_text("Start model `tiny-n4`: 12.0% of the studies' 256 held-out 5-digit problems; "
                    "kl-strength takes about 4 h.\n")
    name = next(iter(FIGURES))
    assert statements(FIGURES[name][2], [page]) == [("other.md", "12.0")]
    assert statements(FIGURES["kl-strength: wall time on 2 cores (h)"][2], [page]) == [("other.md", "4")]

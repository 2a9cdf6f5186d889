import subprocess
import sys

CORE = "htc, htc.metrics, htc.decoding, htc.taxonomy, htc.data, htc.datasets, htc.cli"


def test_core_does_not_import_torch():
    code = (f"import sys, {CORE}; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_help_does_not_import_torch():
    code = ("import sys\nfrom htc.cli import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def _without(module: str, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` where ``import module`` fails as if it were not installed."""
    code = f"import sys; sys.modules[{module!r}] = None; {code}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_train_without_torch_names_the_extra():
    for command in ("train", "predict --model m -i x --out o", "reproduce"):
        res = _without("torch", f"from htc.cli import app; app({command.split()!r})")
        assert res.returncode == 2, res.stderr
        name = command.split()[0]
        assert res.stderr.strip() == (f"error: htc {name} needs torch, which is not installed: "
                                      "pip install 'htc[train]'")
    res = _without("torch", "import htc.training")
    assert res.stderr.strip().splitlines()[-1].endswith(
        "needs torch, which is not installed: pip install 'htc[train]'"), res.stderr


def test_multipath_study_without_sklearn_names_the_extra(tmp_path):
    res = _without("sklearn", "from htc.cli import app; app(['multipath-study', '--seeds', '1', "
                   f"'--train-docs', '20', '--test-docs', '20', '--out', {str(tmp_path)!r}])")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == ("error: htc multipath-study needs scikit-learn, which is not "
                                  "installed: pip install 'htc[study]'")

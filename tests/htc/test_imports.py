import subprocess
import sys


def test_core_does_not_import_torch():
    code = ("import sys, htc, htc.metrics, htc.decoding, htc.data, htc.datasets, htc.cli; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)

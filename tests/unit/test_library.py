"""The README's library example runs as written."""
import re
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow  # a whole SLUG step in a fresh interpreter (about 25 s): in `make test`, not `make test-fast`
def test_the_readme_library_example_runs_a_whole_slug_step(tmp_path):
    readme = (REPO / "README.md").read_text()
    code = re.search(r"<!-- library-example -->\n```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\S+ rho=[\d.e+-]+: forget top-1 [\d.]+ -> 0\.00, other identities [\d.]+ -> [\d.]+", line), line
    assert (tmp_path / "world/celeba/list_identity_celeba.txt").exists()

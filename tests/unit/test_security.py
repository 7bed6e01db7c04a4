"""Static security checks: safe loading, no shell interpolation, safe YAML (see SECURITY.md)."""
import re

from conftest import REPO

CODE = [p for d in ("slug", "workflow_scripts", "benchmarks") for p in (REPO / d).rglob("*.py")]
RULES = list((REPO / "rules").glob("*.smk")) + [REPO / "Snakefile"]


def test_every_torch_load_uses_weights_only():
    calls = [(p, m.group(0)) for p in CODE for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls, "expected at least one torch.load call"
    assert all("weights_only=True" in c for _, c in calls), calls


def test_yaml_is_loaded_safely():
    for p in CODE + RULES:
        text = p.read_text()
        assert not re.search(r"yaml\.(load|unsafe_load|full_load)\(", text), p


def test_rules_run_no_shell_commands():
    for p in RULES:
        assert not re.search(r"^\s+(shell|run):", p.read_text(), re.M), \
            f"{p}: use script: so that no user string reaches a shell"


def test_no_network_server_in_the_code():
    for p in CODE:
        assert not re.search(r"http\.server|socketserver|HTTPServer", p.read_text()), p

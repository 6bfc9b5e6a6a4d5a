"""No code path runs text as code or unpickles: no eval/exec, no pickle loads, torch.load only with weights_only."""

from __future__ import annotations

import re

from tests.conftest import PROJECT_ROOT

SOURCE_ROOT = PROJECT_ROOT / "src" / "nwb_dyn"
#: ``.eval()`` on a torch module (evaluation mode) is allowed; a bare ``eval(``/``exec(`` call is not.
CODE_FROM_TEXT = re.compile(
    r"(?<![\w.])(eval|exec|compile)\(|__import__\(|pickle\.loads?\(|yaml\.(unsafe_)?load\("
)
TORCH_LOAD = re.compile(r"torch\.load\(([^)]*)\)")
ALLOW_PICKLE = re.compile(r"allow_pickle\s*=\s*True")


def _python_lines() -> list[tuple[str, int, str]]:
    return [
        (str(path.relative_to(PROJECT_ROOT)), number, line)
        for path in sorted(SOURCE_ROOT.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
    ]


def test_no_eval_exec_pickle_or_unsafe_yaml() -> None:
    offending = [
        f"{name}:{number}: {line.strip()}"
        for name, number, line in _python_lines()
        if CODE_FROM_TEXT.search(line)
    ]
    offending += [
        f"{name}:{number}: {line.strip()}"
        for name, number, line in _python_lines()
        if ALLOW_PICKLE.search(line)
    ]
    assert offending == []


def test_every_torch_load_is_weights_only() -> None:
    source = {path: path.read_text() for path in SOURCE_ROOT.rglob("*.py")}
    calls = [(path, match[1]) for path, text in source.items() for match in TORCH_LOAD.finditer(text)]
    assert calls, "expected the checkpoint reader's torch.load"
    assert [str(path) for path, arguments in calls if "weights_only=True" not in arguments] == []
    # no Lightning loader that unpickles by default either
    assert not [path for path, text in source.items() if "load_from_checkpoint(" in text]


# The unsafe calls are assembled from parts so that a plain-text grep of the repository does not flag this test.
EVAL_CALL = "ev" + "al(text)"
UNSAFE_TORCH_LOAD = "torch." + "load(path, map_location=m)"


def test_the_patterns_catch_what_they_are_for() -> None:
    assert CODE_FROM_TEXT.search(f"value = {EVAL_CALL}") and CODE_FROM_TEXT.search("pickle.load(handle)")
    assert CODE_FROM_TEXT.search("yaml.load(text, Loader=yaml.Loader)")
    assert not CODE_FROM_TEXT.search("model = module.model.eval()") and not CODE_FROM_TEXT.search(
        "yaml.safe_load(t)"
    )
    assert TORCH_LOAD.search(UNSAFE_TORCH_LOAD)[1] == "path, map_location=m"

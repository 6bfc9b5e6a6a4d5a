"""Every way a remote SOURCE can fail gives one clear line and exit code 2 (our DandiError/SourceError)."""

from __future__ import annotations

import socket

import pytest

from tests.dandi_standin import DandiStandin
from tests.helpers import run_cli
from tests.sources.conftest import API_KEY, MC_MAZE_VERSION


def _ls_error(*argv: str) -> str:
    code, stdout, stderr = run_cli("ls", *argv)
    assert code == 2, (stdout, stderr)
    assert stderr.startswith("nwb-dyn: error: ") and stderr.count("\n") == 1, stderr
    return stderr


def test_unknown_dandiset(standin: DandiStandin) -> None:
    assert "dandiset 000404 does not exist on " + standin.api_url in _ls_error("dandiset:000404")


def test_unknown_version_lists_the_known_ones(standin: DandiStandin) -> None:
    message = _ls_error("dandiset:000140@0.999999.9999")
    assert "DANDI:000140 has no version '0.999999.9999'" in message and MC_MAZE_VERSION in message


def test_path_not_in_dandiset(standin: DandiStandin) -> None:
    message = _ls_error("dandiset:000140/sub-Nobody/sub-Nobody_ecephys.nwb")
    assert "has no asset or folder 'sub-Nobody/sub-Nobody_ecephys.nwb'" in message
    assert "nwb-dyn ls dandiset:000140@" in message


def test_asset_glob_matching_nothing(standin: DandiStandin) -> None:
    assert "no NWB asset of DANDI:000999/draft matches --asset 'sub-z*'" in _ls_error(
        "dandiset:000999", "--asset", "sub-z*"
    )


def test_dandiset_without_nwb_assets(standin: DandiStandin) -> None:
    assert "DANDI:000555/draft has no NWB assets (1 other files)" in _ls_error("dandiset:000555")


def test_unreachable_server_names_the_url(standin: DandiStandin) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    message = _ls_error("dandiset:000140", "--dandi-api-url", url)
    assert f"cannot reach a DANDI server at {url}" in message


def test_embargoed_without_key_says_to_set_dandi_api_key(standin: DandiStandin) -> None:
    message = _ls_error("dandiset:000777")
    assert "HTTP 401" in message and "DANDI_API_KEY is not set" in message


def test_key_without_access_gets_403(standin: DandiStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    standin.accept_token("someone-else")
    monkeypatch.setenv("DANDI_API_KEY", "someone-else")
    message = _ls_error("dandiset:000777")
    assert "HTTP 403" in message and "DANDI_API_KEY was refused" in message


def test_embargoed_with_key_lists(standin: DandiStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANDI_API_KEY", API_KEY)
    code, stdout, stderr = run_cli("ls", "dandiset:000777")
    assert code == 0, stderr
    assert "sub-e/sub-e_ecephys.nwb" in stdout and "  units: 5 units, " in stdout


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "HTTP 403 from {url}: access denied"),
        (404, "HTTP 404 from {url}: no such file"),
        (500, "{url}: HTTP 500 (after retries)"),
    ],
)
def test_url_http_failures(
    standin: DandiStandin, monkeypatch: pytest.MonkeyPatch, status: int, message: str
) -> None:
    monkeypatch.setenv("NWB_DYN_HTTP_RETRIES", "2")
    standin.answer_status("session.nwb", status)
    url = standin.file_url("session.nwb")
    assert message.format(url=url) in _ls_error(url)
    # 4xx fail at once; 5xx are retried
    assert standin.traffic.blob_requests == (3 if status == 500 else 1)


def test_hanging_server_times_out(standin: DandiStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NWB_DYN_HTTP_TIMEOUT_S", "0.3")
    monkeypatch.setenv("NWB_DYN_HTTP_RETRIES", "1")
    standin.hang_for(2.0)
    url = standin.file_url("session.nwb")
    assert f"{url} did not answer within 0.3 s" in _ls_error(url)

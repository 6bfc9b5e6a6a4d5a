"""The DANDI stand-in fixtures of ``tests/sources`` (one server per test session), for the network fault cases."""

from tests.sources.conftest import standin, standin_files, standin_server

__all__ = ["standin", "standin_files", "standin_server"]

"""A local stand-in for the DANDI archive: the REST read endpoints the real ``dandi`` client uses, plus a blob server
that honours HTTP Range, on 127.0.0.1 in a process of its own.

It counts requests and body bytes it served so tests can assert on network use, and it can misbehave on purpose:
drop a fraction of Range requests (connection reset or 503), hang, answer a fixed status, or demand an API key.
Endpoint shapes follow ``dandi.dandiapi`` 0.81 (see ../shared/papers/platform-notes.md §4).

Why a process and not a thread: h5py holds one global lock while HDF5 reads through a Python file object, and
freeing any h5py object takes that lock too. A server thread in the test process that happened to garbage-collect
an h5py object (pynwb's container trees are reference cycles) while the client waited on it inside a read would
stall until the client's timeout, and the process could crash at exit. A real archive never shares the client's
locks; the stand-in must not either. Tests drive it over HTTP control routes under ``/_control/``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import random
import re
import urllib.parse
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web
from typing_extensions import Self

TIMESTAMP = "2022-01-13T04:08:00.000000Z"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass
class StandinAsset:
    """One file of a dandiset version: ``path`` as listed, bytes from ``file``."""

    path: str
    file: Path
    asset_id: str = ""
    blob_id: str = ""
    sha256: str = ""
    size: int = 0

    def __post_init__(self) -> None:
        content_hash = hashlib.sha256()
        with self.file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                content_hash.update(block)
        self.sha256 = content_hash.hexdigest()
        self.size = self.file.stat().st_size
        self.asset_id = self.asset_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.path}|{self.sha256}"))
        self.blob_id = self.blob_id or str(uuid.uuid5(uuid.NAMESPACE_URL, self.sha256))


@dataclass
class StandinDandiset:
    """A dandiset: ``versions`` maps version id (``"draft"`` and published ones) to its assets."""

    identifier: str
    versions: dict[str, list[StandinAsset]]
    embargoed: bool = False


@dataclass
class Traffic:
    """What the stand-in served since the last :meth:`DandiStandin.reset_traffic`."""

    requests: int = 0
    blob_requests: int = 0
    blob_bytes: int = 0
    faults_injected: int = 0
    log: list[str] = field(default_factory=list)


class _LocalAddress:
    """The URLs of a server listening on 127.0.0.1:``port``."""

    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"


class DandiStandin(_LocalAddress):
    """Serve ``dandisets`` (and loose ``files`` under ``/files/NAME``) on 127.0.0.1:<free port>, from a child process.

    Use as a context manager. :meth:`inject_faults` sets the fraction of Range requests dropped, half by resetting
    the connection and half with 503; :meth:`hang_for` makes every blob/file request wait; :meth:`answer_status`
    makes a loose file always answer one status. With ``token`` set, embargoed dandisets need
    ``Authorization: token <token>``; keys given to :meth:`accept_token` authenticate but get 403 there.
    """

    def __init__(
        self,
        dandisets: list[StandinDandiset],
        files: dict[str, Path] | None = None,
        token: str | None = None,
    ) -> None:
        self.dandisets = {d.identifier: d for d in dandisets}
        self.files = dict(files or {})
        self.token = token
        self.port = 0
        self._process: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> Self:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(list(self.dandisets.values()), self.files, self.token, sender), daemon=True
        )
        self._process.start()
        sender.close()
        if not receiver.poll(60):
            self._process.terminate()
            raise RuntimeError("the DANDI stand-in did not start within 60 s")
        self.port = receiver.recv()
        receiver.close()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.join(timeout=30)

    def file_url(self, name: str) -> str:
        return f"{self.base_url}/files/{name}"

    def _control(self, action: str, **query: object) -> Any:
        url = f"{self.base_url}/_control/{action}?{urllib.parse.urlencode(query)}"
        # never through a configured proxy
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(urllib.request.Request(url, method="POST"), timeout=30) as response:
            return json.loads(response.read())

    @property
    def traffic(self) -> Traffic:
        """What the stand-in served since the last :meth:`reset_traffic` (a snapshot)."""
        return Traffic(**self._control("traffic"))

    def reset_traffic(self) -> None:
        self._control("reset-traffic")

    def reset(self) -> None:
        """A clean slate: traffic counters zero, no faults, no hang, no fixed statuses, no extra API keys."""
        self._control("reset")

    def inject_faults(self, rate: float, seed: int = 0) -> None:
        """Drop a fraction ``rate`` of Range requests from now on, in an order fixed by ``seed``."""
        self._control("faults", rate=rate, seed=seed)

    def hang_for(self, seconds: float) -> None:
        """Make every blob/file request wait ``seconds`` before answering."""
        self._control("hang", seconds=seconds)

    def answer_status(self, name: str, status: int) -> None:
        """Make the loose file ``name`` always answer HTTP ``status``."""
        self._control("file-status", name=name, status=status)

    def accept_token(self, key: str) -> None:
        """Accept ``key`` as the API key of an account without access to embargoed dandisets."""
        self._control("accept-token", key=key)


def _serve(
    dandisets: list[StandinDandiset], files: dict[str, Path], token: str | None, ready: Connection
) -> None:
    """The child process: run the server until terminated, after sending its port through ``ready``."""
    loop = asyncio.new_event_loop()
    server = _StandinServer(dandisets, files, token)
    ready.send(loop.run_until_complete(server.start()))
    ready.close()
    loop.run_forever()


class _StandinServer(_LocalAddress):
    """The stand-in's state and request handlers (in the child process)."""

    def __init__(self, dandisets: list[StandinDandiset], files: dict[str, Path], token: str | None) -> None:
        self.dandisets = {d.identifier: d for d in dandisets}
        self.files = files
        self.token = token
        self.port = 0
        self.traffic = Traffic()
        self._reset()

    def _reset(self) -> None:
        self.file_status: dict[str, int] = {}
        self.other_tokens: set[str] = set()  # valid keys of accounts without access to embargoed dandisets
        self.fault_rate = 0.0
        self.hang_s = 0.0
        self._random = random.Random(0)

    async def start(self) -> int:
        """Start listening on a free port of 127.0.0.1; returns the port."""
        app = web.Application(middlewares=[self._count])
        app.router.add_route("POST", "/_control/{action}", self._control)
        app.router.add_route("GET", "/server-info", self._server_info)
        app.router.add_route("GET", "/api/info/", self._server_info)
        app.router.add_route("GET", "/api/auth/token", self._auth_token)
        app.router.add_route("GET", "/api/auth/token/", self._auth_token)
        app.router.add_route("GET", "/api/dandisets/{id}/", self._dandiset)
        app.router.add_route("GET", "/api/dandisets/{id}/versions/", self._versions)
        app.router.add_route("GET", "/api/dandisets/{id}/versions/{version}/info/", self._version_info)
        app.router.add_route("GET", "/api/dandisets/{id}/versions/{version}/assets/", self._assets)
        app.router.add_route(
            "GET", "/api/dandisets/{id}/versions/{version}/assets/{aid}/", self._asset_metadata
        )
        app.router.add_route(
            "GET", "/api/dandisets/{id}/versions/{version}/assets/{aid}/info/", self._asset_info
        )
        app.router.add_route("*", "/api/assets/{aid}/download/", self._download)
        app.router.add_route("*", "/blobs/{blob}", self._blob)
        app.router.add_route("*", "/files/{name}", self._file)
        runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def _control(self, request: web.Request) -> web.Response:
        action, query = request.match_info["action"], request.query
        if action == "traffic":
            return web.json_response(asdict(self.traffic))
        if action == "reset-traffic":
            self.traffic = Traffic()
        elif action == "reset":
            self.traffic = Traffic()
            self._reset()
        elif action == "faults":
            self.fault_rate = float(query["rate"])
            self._random = random.Random(int(query["seed"]))
        elif action == "hang":
            self.hang_s = float(query["seconds"])
        elif action == "file-status":
            self.file_status[query["name"]] = int(query["status"])
        elif action == "accept-token":
            self.other_tokens.add(query["key"])
        else:
            raise web.HTTPNotFound(text=f"no control action {action!r}")
        return web.json_response({})

    # -- helpers ---------------------------------------------------------------------------------------------------

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_control/"):
            return await handler(request)
        self.traffic.requests += 1
        self.traffic.log.append(f"{request.method} {request.path_qs}")
        return await handler(request)

    def _find(self, request: web.Request) -> StandinDandiset:
        dandiset = self.dandisets.get(request.match_info["id"])
        if dandiset is None:
            raise web.HTTPNotFound(text='{"detail": "Not found."}', content_type="application/json")
        if dandiset.embargoed:
            offered = request.headers.get("Authorization")
            if offered is None:
                raise web.HTTPUnauthorized(text='{"detail": "Authentication credentials were not provided."}')
            if offered != f"token {self.token}":
                raise web.HTTPForbidden(text='{"detail": "You do not have permission."}')
        return dandiset

    def _version_assets(self, request: web.Request) -> tuple[StandinDandiset, str, list[StandinAsset]]:
        dandiset = self._find(request)
        version = request.match_info["version"]
        if version not in dandiset.versions:
            raise web.HTTPNotFound(text='{"detail": "Not found."}', content_type="application/json")
        return dandiset, version, dandiset.versions[version]

    def _asset(self, request: web.Request) -> tuple[StandinDandiset, str, StandinAsset]:
        dandiset, version, assets = self._version_assets(request)
        for asset in assets:
            if asset.asset_id == request.match_info["aid"]:
                return dandiset, version, asset
        raise web.HTTPNotFound(text='{"detail": "Not found."}', content_type="application/json")

    @staticmethod
    def _version_record(version: str, assets: list[StandinAsset]) -> dict[str, Any]:
        return {
            "version": version,
            "name": "stand-in dandiset",
            "asset_count": len(assets),
            "size": sum(a.size for a in assets),
            "created": TIMESTAMP,
            "modified": TIMESTAMP,
            "status": "Valid" if version == "draft" else "Published",
        }

    @staticmethod
    def _asset_record(asset: StandinAsset) -> dict[str, Any]:
        return {
            "asset_id": asset.asset_id,
            "blob": asset.blob_id,
            "zarr": None,
            "path": asset.path,
            "size": asset.size,
            "created": TIMESTAMP,
            "modified": TIMESTAMP,
        }

    def _asset_metadata_record(
        self, dandiset: StandinDandiset, version: str, asset: StandinAsset
    ) -> dict[str, Any]:
        return {
            "id": f"dandiasset:{asset.asset_id}",
            "identifier": asset.asset_id,
            "path": asset.path,
            "contentSize": asset.size,
            "encodingFormat": "application/x-nwb",
            "digest": {"dandi:sha2-256": asset.sha256, "dandi:dandi-etag": f"{asset.sha256[:32]}-1"},
            "contentUrl": [
                f"{self.api_url}/assets/{asset.asset_id}/download/",
                f"{self.base_url}/blobs/{asset.blob_id}",
            ],
        }

    # -- REST ------------------------------------------------------------------------------------------------------

    async def _server_info(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "version": "0.0.0-standin",
                "services": {
                    "api": {"url": self.api_url},
                    "webui": {"url": self.base_url},
                    "jupyterhub": None,
                },
                "cli-minimal-version": "0.0.0",
                "cli-bad-versions": [],
            }
        )

    async def _auth_token(self, request: web.Request) -> web.Response:
        valid = {f"token {t}" for t in (self.token, *self.other_tokens) if t is not None}
        if request.headers.get("Authorization") not in valid:
            raise web.HTTPUnauthorized(text='{"detail": "Invalid token."}')
        return web.json_response({"detail": "ok"})

    async def _dandiset(self, request: web.Request) -> web.Response:
        dandiset = self._find(request)
        published = sorted(v for v in dandiset.versions if v != "draft")
        return web.json_response(
            {
                "identifier": dandiset.identifier,
                "created": TIMESTAMP,
                "modified": TIMESTAMP,
                "contact_person": "Stand-in, Test",
                "embargo_status": "EMBARGOED" if dandiset.embargoed else "OPEN",
                "draft_version": self._version_record("draft", dandiset.versions.get("draft", [])),
                "most_recent_published_version": (
                    self._version_record(published[-1], dandiset.versions[published[-1]])
                    if published
                    else None
                ),
            }
        )

    async def _versions(self, request: web.Request) -> web.Response:
        dandiset = self._find(request)
        results = [self._version_record(v, a) for v, a in sorted(dandiset.versions.items())]
        return web.json_response({"count": len(results), "next": None, "previous": None, "results": results})

    async def _version_info(self, request: web.Request) -> web.Response:
        _, version, assets = self._version_assets(request)
        record = self._version_record(version, assets)
        record.update({"asset_validation_errors": [], "version_validation_errors": [], "metadata": {}})
        return web.json_response(record)

    async def _assets(self, request: web.Request) -> web.Response:
        _, _, assets = self._version_assets(request)
        prefix = request.query.get("path")
        chosen = [a for a in assets if prefix is None or a.path.startswith(prefix)]
        results = [self._asset_record(a) for a in sorted(chosen, key=lambda a: a.path)]
        return web.json_response({"count": len(results), "next": None, "previous": None, "results": results})

    async def _asset_metadata(self, request: web.Request) -> web.Response:
        dandiset, version, asset = self._asset(request)
        return web.json_response(self._asset_metadata_record(dandiset, version, asset))

    async def _asset_info(self, request: web.Request) -> web.Response:
        dandiset, version, asset = self._asset(request)
        record = self._asset_record(asset)
        record["metadata"] = self._asset_metadata_record(dandiset, version, asset)
        return web.json_response(record)

    async def _download(self, request: web.Request) -> web.Response:
        for dandiset in self.dandisets.values():
            for assets in dandiset.versions.values():
                for asset in assets:
                    if asset.asset_id == request.match_info["aid"]:
                        # a presigned-looking query, as S3 redirects carry one
                        location = f"{self.base_url}/blobs/{asset.blob_id}?X-Amz-Signature=standin"
                        raise web.HTTPFound(location)
        raise web.HTTPNotFound()

    # -- bytes -----------------------------------------------------------------------------------------------------

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        for dandiset in self.dandisets.values():
            for assets in dandiset.versions.values():
                for asset in assets:
                    if asset.blob_id == request.match_info["blob"]:
                        return await self._serve(request, asset.file)
        raise web.HTTPNotFound()

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name in self.file_status:
            self.traffic.blob_requests += 1
            return web.Response(status=self.file_status[name], text="stand-in failure")
        if name not in self.files:
            raise web.HTTPNotFound()
        return await self._serve(request, self.files[name])

    async def _serve(self, request: web.Request, path: Path) -> web.StreamResponse:
        self.traffic.blob_requests += 1
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        size = path.stat().st_size
        etag = f'"{path.stat().st_mtime_ns:x}-{size:x}"'
        headers = {"Accept-Ranges": "bytes", "ETag": etag}
        range_header = request.headers.get("Range")
        if range_header is None:
            if request.method == "HEAD":
                return web.Response(status=200, headers={**headers, "Content-Length": str(size)})
            body = path.read_bytes()
            self.traffic.blob_bytes += len(body)
            return web.Response(status=200, body=body, headers=headers)
        match = _RANGE.match(range_header)
        if match is None:
            raise web.HTTPRequestRangeNotSatisfiable()
        if self.fault_rate and self._random.random() < self.fault_rate:
            self.traffic.faults_injected += 1
            if self._random.random() < 0.5:
                assert request.transport is not None
                request.transport.abort()  # connection reset mid-request
                return web.Response(status=503)
            return web.Response(status=503, text="stand-in: slow down")
        start = int(match[1])
        stop = min(size - 1, int(match[2])) if match[2] else size - 1
        with path.open("rb") as handle:
            handle.seek(start)
            body = handle.read(stop - start + 1)
        self.traffic.blob_bytes += len(body)
        headers["Content-Range"] = f"bytes {start}-{stop}/{size}"
        return web.Response(status=206, body=body, headers=headers)

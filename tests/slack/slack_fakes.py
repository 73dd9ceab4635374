"""A local fake of the Slack Web API and of Slack's file host, on free loopback ports.

Answers like Slack does (`ok`, `ts`, `channel`, errors such as `not_in_channel`), records
every call, and can be told to misbehave: refuse a channel, answer 429, serve a sign-in page.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-1234-5678-faxbridgetest"
APP_TOKEN = "xapp-1-A0FAXBRIDGE-1234-sockettest"
TEAM = "T0FAX"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
SIGN_IN_PAGE = b"""<!DOCTYPE html>
<html lang="en-US"><head><title>Slack</title></head>
<body><div id="page"><h1>Sign in to Fax Test</h1><form action="/signin">
<input type="email" name="email"></form></div></body></html>
"""


@dataclass
class Call:
    """One Web API call as the fake received it."""

    method: str
    args: dict[str, Any]
    authorization: str
    at: float


@dataclass
class Download:
    """One request to a file host."""

    path: str
    authorization: str | None


@dataclass
class Upload:
    """A file uploaded with Slack's current flow: URL asked for, bytes posted, upload completed."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None  # the bytes posted to the upload URL
    channel: str | None = None  # set once completed into a channel
    thread_ts: str | None = None
    comment: str = ""
    title: str = ""
    ts: str = ""


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    edits: int = 0


class _Server:
    def __init__(self) -> None:
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class ForeignHost(_Server):
    """A host that is not Slack's: it records whoever comes, and what Authorization they carried."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Download] = []
        self.app.router.add_route("*", "/{tail:.*}", self._any)

    async def _any(self, request: web.Request) -> web.Response:
        self.requests.append(Download(request.path, request.headers.get("Authorization")))
        return web.Response(body=b"%PDF-1.4 not from slack", content_type="application/pdf")


@dataclass
class FakeSlack(_Server):
    """The Web API under /api/ and the file host under /files-pri/, on one loopback port."""

    calls: list[Call] = field(default_factory=list)
    downloads: list[Download] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file id -> (name, bytes)
    messages: dict[tuple[str, str], Message] = field(default_factory=dict)
    not_in_channel: set[str] = field(default_factory=set)
    rate_limited: dict[str, int] = field(default_factory=dict)  # method -> 429 answers still to give
    sign_in_page_for: set[str] = field(default_factory=set)  # file ids served as the HTML sign-in page
    redirects: dict[str, str] = field(default_factory=dict)  # file id -> where its download redirects
    sign_in_page_type: str = "text/html"
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    outage: bool = False  # the Web API answers 503 to everything (files are still served)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> how it differs from a member
    slow: dict[str, float] = field(default_factory=dict)  # file id -> seconds its download takes
    dropped: set[str] = field(default_factory=set)  # API methods and file ids whose connection is cut
    refusing: dict[str, str] = field(default_factory=dict)  # API method -> the error it answers with
    downloading: int = 0  # downloads under way now
    most_downloading: int = 0  # the most that were ever under way at once
    strangers: set[str] = field(default_factory=set)  # user ids users.info does not know (user_not_found)
    uploads: dict[str, Upload] = field(default_factory=dict)  # file id -> an upload of the current flow
    upload_posts: int = 0  # bytes posted to upload URLs, counted (a retried upload posts again)
    upload_hold: float = 0.0  # seconds an upload POST is held before it is answered (a slow network)
    uploading: int = 0  # upload POSTs under way now

    def __post_init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self.app.router.add_route("*", "/api/{method}", self._api)
        self.app.router.add_get("/files-pri/{team_file}/{rest:.*}", self._file)
        self.app.router.add_get("/link/", self._socket)
        self.app.router.add_post("/upload/v1/{file_id}", self._upload)
        self._sockets: list[web.WebSocketResponse] = []
        self._acked = asyncio.Condition()

    # ---- what tests use

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def add_file(
        self, file_id: str, name: str, data: bytes, *, mimetype: str = "application/pdf"
    ) -> dict[str, Any]:
        """Register a file and return its Slack file object (as in a message or file_input)."""
        self.files[file_id] = (name, data)
        return self.file_object(file_id, mimetype=mimetype)

    def file_object(self, file_id: str, *, mimetype: str = "application/pdf") -> dict[str, Any]:
        name, data = self.files[file_id]
        base = f"{self.url}/files-pri/{TEAM}-{file_id}"
        return {
            "id": file_id,
            "created": 1764158400,
            "timestamp": 1764158400,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "pretty_type": name.rsplit(".", 1)[-1].upper(),
            "user": "U0ALICE",
            "user_team": TEAM,
            "editable": False,
            "size": len(data),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://fax-test.slack.com/files/U0ALICE/{file_id}/{name}",
            "has_rich_preview": False,
            "file_access": "visible",
        }

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts(self) -> list[Call]:
        """Successful chat.postMessage calls (the ones that made a message)."""
        made = {(m.channel, m.ts) for m in self.messages.values()}
        return [
            c for c in self.called("chat.postMessage") if (c.args.get("_channel"), c.args.get("_ts")) in made
        ]

    # ---- the Web API

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        call = Call(method, args, request.headers.get("Authorization", ""), time.monotonic())
        self.calls.append(call)
        if method in self.dropped:
            return _cut(request)
        if method in self.refusing:
            return web.json_response({"ok": False, "error": self.refusing[method]})
        if self.outage:
            return web.Response(status=503, text="upstream connect error")
        if self.rate_limited.get(method, 0) > 0:
            self.rate_limited[method] -= 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if method == "apps.connections.open":
            if call.authorization != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response(
                {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=fake-ticket"}
            )
        if call.authorization != f"Bearer {BOT_TOKEN}":
            return web.json_response(
                {"ok": False, "error": "not_authed" if not call.authorization else "invalid_auth"}
            )
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(call))

    def _auth_test(self, call: Call) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fax-test.slack.com/",
            "team": "Fax Test",
            "user": "faxbridge",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _views_open(self, call: Call) -> dict[str, Any]:
        if call.args.get("trigger_id") in (None, "", "expired"):
            return {"ok": False, "error": "expired_trigger_id"}
        view = call.args["view"]
        view = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": {"id": "V0MODAL", "team_id": TEAM, "hash": "1764158400.abc", **view}}

    def _chat_postMessage(self, call: Call) -> dict[str, Any]:
        channel = str(call.args.get("channel", ""))
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not call.args.get("text") and not call.args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"{1764158400 + next(self._ts)}.000100"
        blocks = _blocks(call.args.get("blocks"))
        self.messages[(channel, ts)] = Message(
            channel, ts, str(call.args.get("text", "")), blocks, call.args.get("thread_ts")
        )
        call.args["_channel"], call.args["_ts"] = channel, ts
        message = {
            "type": "message",
            "text": call.args.get("text", ""),
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "ts": ts,
        }
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, call: Call) -> dict[str, Any]:
        key = (str(call.args.get("channel", "")), str(call.args.get("ts", "")))
        message = self.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text = str(call.args.get("text", ""))
        message.blocks = _blocks(call.args.get("blocks"))
        message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def _chat_postEphemeral(self, call: Call) -> dict[str, Any]:
        if str(call.args.get("channel", "")) in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "message_ts": f"{1764158400 + next(self._ts)}.000200"}

    def _conversations_open(self, call: Call) -> dict[str, Any]:
        users = str(call.args.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users.removeprefix("U"), "is_im": True}}

    def _users_info(self, call: Call) -> dict[str, Any]:
        user = str(call.args.get("user", ""))
        if not user or user in self.strangers:
            return {"ok": False, "error": "user_not_found"}
        found = {
            "id": user,
            "team_id": TEAM,
            "name": user.removeprefix("U0").lower(),
            "deleted": False,
            "is_bot": False,
            "is_app_user": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "profile": {"real_name": user.removeprefix("U0").title()},
        }
        return {"ok": True, "user": found | self.people.get(user, {})}

    def shared(self, channel: str) -> list[Upload]:
        """Uploads completed into `channel`: the files people there see."""
        return [upload for upload in self.uploads.values() if upload.channel == channel]

    def _files_getUploadURLExternal(self, call: Call) -> dict[str, Any]:
        filename = str(call.args.get("filename", ""))
        length = str(call.args.get("length", ""))
        if not filename or not length.isdigit() or int(length) < 1:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F0UP{next(self._ts):04d}"
        self.uploads[file_id] = Upload(file_id=file_id, filename=filename, length=int(length))
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="unknown upload")
        if request.match_info["file_id"] in self.dropped:
            return _cut(request)
        data = await request.read()
        if self.upload_hold:
            # Held until the hold is lifted, its time is up, or the uploader goes away.
            self.uploading += 1
            try:
                end = asyncio.get_running_loop().time() + self.upload_hold
                while self.upload_hold and asyncio.get_running_loop().time() < end:
                    if request.transport is None or request.transport.is_closing():
                        return web.Response(status=499)
                    await asyncio.sleep(0.05)
            finally:
                self.uploading -= 1
        if request.content_type == "multipart/form-data" or not data:
            # Slack takes the raw bytes or a form with a `file` part; the bridge sends raw bytes.
            return web.Response(status=400, text="expected the file's bytes")
        self.upload_posts += 1
        upload.data = data
        return web.Response(text=f"OK - {len(data)}")

    def _files_completeUploadExternal(self, call: Call) -> dict[str, Any]:
        raw = call.args.get("files")
        files = json.loads(raw) if isinstance(raw, str) else raw
        channel = str(call.args.get("channel_id", ""))
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        chosen = []
        for item in files:
            upload = self.uploads.get(str(item.get("id", "")))
            if upload is None or upload.data is None or len(upload.data) != upload.length:
                return {"ok": False, "error": "file_not_found"}
            if upload.channel is not None:
                return {"ok": False, "error": "file_already_completed"}
            chosen.append((upload, str(item.get("title") or upload.filename)))
        completed = []
        for upload, title in chosen:
            upload.title, upload.comment = title, str(call.args.get("initial_comment", ""))
            if channel:
                upload.channel, upload.thread_ts = channel, call.args.get("thread_ts") or None
                upload.ts = f"{1764158400 + next(self._ts)}.000300"
            completed.append({"id": upload.file_id, "title": title})
        return {"ok": True, "files": completed}

    def _files_info(self, call: Call) -> dict[str, Any]:
        file_id = str(call.args.get("file", ""))
        upload = self.uploads.get(file_id)
        if upload is not None:
            share = {"ts": upload.ts, **({"thread_ts": upload.thread_ts} if upload.thread_ts else {})}
            shares = {"public": {upload.channel: [share]}} if upload.channel else {}
            found = {"id": file_id, "name": upload.filename, "title": upload.title, "shares": shares}
            return {"ok": True, "file": found, "comments": []}
        if file_id not in self.files:
            return {"ok": False, "error": "file_not_found"}
        return {
            "ok": True,
            "file": self.file_object(file_id),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    # ---- Socket Mode

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0FAXBRIDGE"}}
        )
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                async with self._acked:
                    self.socket_acks.append(json.loads(message.data))
                    self._acked.notify_all()
        return socket

    async def push(self, envelope: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send an envelope down the Socket Mode connection and wait for the app's acknowledgement."""
        await self._sockets[-1].send_json(envelope)

        def acked() -> dict[str, Any] | None:
            return next(
                (a for a in self.socket_acks if a.get("envelope_id") == envelope["envelope_id"]), None
            )

        async with self._acked:
            await asyncio.wait_for(self._acked.wait_for(acked), timeout)
        ack = acked()
        assert ack is not None
        return ack

    # ---- the file host

    async def _file(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization")
        self.downloads.append(Download(request.path, authorization))
        file_id = request.match_info["team_file"].removeprefix(f"{TEAM}-")
        if file_id in self.redirects:
            raise web.HTTPFound(self.redirects[file_id])
        if file_id not in self.files:
            return web.Response(status=404, text="file not found")
        if authorization != f"Bearer {BOT_TOKEN}":
            # What Slack does without the header: 200 and its sign-in page.
            return web.Response(body=SIGN_IN_PAGE, content_type="text/html", charset="utf-8")
        if file_id in self.sign_in_page_for:
            # The same page when the token lacks files:read, sometimes under another content type.
            return web.Response(body=SIGN_IN_PAGE, content_type=self.sign_in_page_type)
        if file_id in self.dropped:
            return _cut(request)
        if file_id in self.slow:
            return await self._slowly(request, self.files[file_id][1], self.slow[file_id])
        return web.Response(body=self.files[file_id][1], content_type="application/pdf")

    async def _slowly(self, request: web.Request, data: bytes, seconds: float) -> web.StreamResponse:
        """Serve `data` in twenty pieces spread over `seconds`, counting downloads under way."""
        response = web.StreamResponse(headers={"Content-Type": "application/pdf"})
        response.content_length = len(data)
        self.downloading += 1
        self.most_downloading = max(self.most_downloading, self.downloading)
        try:
            await response.prepare(request)
            step = max(1, len(data) // 20)
            for start in range(0, len(data), step):
                await response.write(data[start : start + step])
                await asyncio.sleep(seconds / 20)
            await response.write_eof()
        finally:
            self.downloading -= 1
        return response


def _cut(request: web.Request) -> web.Response:
    """Drop the connection without an answer, as a network failure would."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=502)  # never reaches the client


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value or [])


def texts(blocks: list[dict[str, Any]]) -> str:
    """Every piece of text in a message's blocks, joined: what a reader would see."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        e.get("action_id", "") for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])
    ]

"""A loopback HTTP/1.1 server that plays a script of raw bytes: for transport faults that a mock
cannot produce faithfully (a stream that stops sending, a connection cut mid-body)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class Script:
    status: int = 200
    content_type: str = "application/json"
    chunks: list[bytes] = field(default_factory=list)
    ending: str = "finish"  # "finish" | "hang" (send nothing more) | "cut" (close mid-body)


class ScriptedServer:
    def __init__(self) -> None:
        self.script = Script()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._release = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await reader.readexactly(length)
        s = self.script
        writer.write(
            f"HTTP/1.1 {s.status} X\r\nContent-Type: {s.content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        for chunk in s.chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        if s.ending == "finish":
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif s.ending == "hang":
            await self._release.wait()  # released when the server stops
        writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        self._ready.wait(5)
        return self

    async def _shutdown(self) -> None:
        self._release.set()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop.stop()

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        self._thread.join(5)

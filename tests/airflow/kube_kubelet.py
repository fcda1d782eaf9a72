"""What kwok's kubelet API lacks: a followed container log ends when the container does.

kwok serves `containerLogs` with the kubelet's own log reader, but its runtime is a stub that always
answers "unavailable", which the reader takes for "still running": a followed log (KubernetesPodOperator
always follows) never ends, and KubernetesPodOperator gives up on it only after its own
post-termination timeouts (120 s, twice). `KubeletFront` sits between the API server and kwok (the
nodes' kubelet port is its): it forwards every request unchanged and ends a followed log once the
pod's status says the container terminated, as a kubelet does. Exec and everything else pass
through as bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

POLL_SECONDS = 0.3


class KubeletFront:
    def __init__(
        self, kwok_port: int, api_url: str, admin: ssl.SSLContext, cert: tuple[Path, Path]
    ) -> None:
        self.kwok_port, self.api_url, self.admin, self.cert = kwok_port, api_url, admin, cert
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("kubelet front did not start")

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.cert)
        context.set_alpn_protocols(["http/1.1"])
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=context)
        )
        self.port = int(server.sockets[0].getsockname()[1])
        ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def terminated(self, namespace: str, pod: str, container: str) -> bool:
        url = f"{self.api_url}/api/v1/namespaces/{namespace}/pods/{pod}"
        try:
            with urllib.request.urlopen(url, context=self.admin, timeout=10) as response:
                status = json.loads(response.read()).get("status", {})
        except urllib.error.HTTPError as error:
            return error.code == 404
        return any(
            c["name"] == container and "terminated" in c.get("state", {})
            for c in status.get("containerStatuses", [])
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        target = urlsplit(head.split(b" ", 2)[1].decode())
        upstream = ssl.create_default_context()
        upstream.check_hostname = False
        upstream.verify_mode = ssl.CERT_NONE  # kwok's self-signed test server
        upstream.set_alpn_protocols(["http/1.1"])
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.kwok_port, ssl=upstream
        )
        if b"upgrade" not in head.lower():  # one request per connection: each is seen here
            lines = [
                line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")
            ]
            head = b"\r\n".join([*lines[:-2], b"Connection: close", b"", b""])
        up_writer.write(head)
        parts = target.path.split("/")
        if parts[1:2] == ["containerLogs"] and "follow=true" in target.query:
            await self._followed_log(up_reader, writer, *parts[2:5])
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def _followed_log(
        self,
        up_reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        namespace: str,
        pod: str,
        container: str,
    ) -> None:
        """The response, re-framed as one that ends at close, ended once the container is."""
        response = await up_reader.readuntil(b"\r\n\r\n")
        lines = response.split(b"\r\n")
        chunked = any(line.lower() == b"transfer-encoding: chunked" for line in lines)
        kept = [
            line
            for line in lines[1:]
            if line
            and not line.lower().startswith(
                (b"transfer-encoding", b"connection", b"content-length")
            )
        ]
        writer.write(b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""]))
        copy = asyncio.ensure_future(_copy_body(up_reader, writer, chunked))
        while not copy.done():
            done = await self._loop.run_in_executor(
                None, self.terminated, namespace, pod, container
            )
            if done:
                await asyncio.sleep(POLL_SECONDS)  # what is left of the file
                break
            await asyncio.wait({copy}, timeout=POLL_SECONDS)
        copy.cancel()
        with contextlib.suppress(Exception):
            await writer.drain()


async def _copy_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunked: bool
) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        while True:
            if chunked:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    return
                data = await reader.readexactly(size + 2)
                writer.write(data[:-2])
            else:
                data = await reader.read(65536)
                if not data:
                    return
                writer.write(data)
            await writer.drain()


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy `src` to `dst` until either end closes, then close `dst` (one direction of a
    proxied connection; kube_real.FrontProxy uses it too)."""
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            dst.close()

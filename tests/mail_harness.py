"""SMTP servers that answer what the test says: refusals, temporary failures, delays, a gate that holds a message
until the test lets it through; and pointing the app at one."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.http_harness import free_port


class ScriptedHandler:
    """Accepts mail, except: DATA answers from `answers` first, RCPT refusals per address, an optional gate."""

    def __init__(self, answers: list[str] | None = None, refuse: dict[str, str] | None = None,
                 delay: float = 0.0) -> None:
        self.answers = list(answers or [])
        self.refuse = dict(refuse or {})
        self.delay = delay
        self.accepted: list[EmailMessage] = []
        self.sessions = 0
        self.data_calls = 0
        self.on_data = None  # a callable run (in the server's thread) when DATA arrives
        self.gate_at: int | None = None  # the DATA call (1-based) that waits for `release`
        self.reached = threading.Event()
        self.release = threading.Event()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.sessions += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.on_data is not None:
            self.on_data()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate_at == self.data_calls:
            self.reached.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "421 4.3.2 Shutting down"
        if self.answers:
            answer = self.answers.pop(0)
            if not answer.startswith("250"):
                return answer
        self.accepted.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def ids(self) -> Counter:
        return Counter(m["Message-ID"] for m in self.accepted)


class Server:
    def __init__(self, handler: ScriptedHandler, port: int | None = None) -> None:
        self.handler = handler
        self.port = port or free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> Server:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def use(app, port: int) -> None:
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"

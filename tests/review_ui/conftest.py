"""Browser-test fixtures: Debian's chromium (one per session) and the real app on a real port.

The live server is uvicorn in a thread on 127.0.0.1 and a free port, over a real SQLite file,
with the demo prepared by ``service.demo.prepare_demo`` (the real pipeline: MiniLM, HDBSCAN,
the keyword judge). One server for the session.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from clustering import Embedder
from judges import KeywordJudge
from service.app import create_app
from service.demo import DemoInfo, prepare_demo
from service.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class LiveServer:
    url: str
    app: Any
    demo: DemoInfo

    def db(self) -> Any:
        return self.app.state.services.db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[LiveServer]:
    """The real app with the demo run on a free port, shared by the browser tests.

    Session-scoped because preparing the demo runs the real pipeline (~30 s on 2 cores);
    the modules keep out of each other's way (the flow test owns project "demo", the
    safety tests their own project "lab").
    """
    db_file = tmp_path_factory.mktemp("live") / "axial.db"
    settings = Settings(database_url=f"sqlite:///{db_file}", session_secret="browser-tests")
    app = create_app(settings, embedder=embedder, judge=KeywordJudge(), start_worker=False)
    demo = prepare_demo(app.state.services)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", app, demo)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


@pytest.fixture
def page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) whose console errors fail the test."""
    context = browser.new_context(base_url=live.url)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.console_errors = errors
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, username: str, password: str) -> None:
    """Sign in through the form with the keyboard: the username field has focus on load."""
    page.goto("/login")
    page.wait_for_function("document.activeElement && document.activeElement.name === 'username'")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")

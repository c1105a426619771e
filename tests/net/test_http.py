from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from app.net.http import USER_AGENT, Answer, HttpError, PoliteClient, RateLimit, RequestCancelled, RetryableAnswer
from tests.local_http import LocalHttpServer

#: Each request is answered by the next of these (status, headers, body); the last one repeats.
Reply = tuple[int, dict[str, str], bytes]


class Server:
    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.seen: list[tuple[float, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.seen.append((time.monotonic(), dict(self.headers.items())))
                status, headers, body = outer.replies.pop(0) if len(outer.replies) > 1 else outer.replies[0]
                self.send_response(status)
                headers = {"Content-Length": str(len(body)), **headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = LocalHttpServer(Handler)
        self.url = self.server.url("/thing")

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(*replies: Reply) -> Server:
        started.append(Server(list(replies)))
        return started[-1]

    yield start
    for server in started:
        server.close()


def client(sleeps: list[float], **options: Any) -> PoliteClient:
    return PoliteClient(**{"timeout_s": 2.0, "attempts": 3, "backoff_s": 0.5, "sleep": sleeps.append, **options})


def test_an_answer_comes_back_with_the_user_agent_sent(serve: Callable[..., Server]) -> None:
    server = serve((200, {"Content-Type": "text/plain"}, b"hello"))
    answer = client([]).get(server.url, headers={"X-Api-Key": "k"})
    assert (answer.status, answer.body, answer.content_type) == (200, b"hello", "text/plain")
    assert server.seen[0][1]["User-Agent"] == USER_AGENT and server.seen[0][1]["X-Api-Key"] == "k"


def test_5xx_backs_off_exponentially_and_429_waits_its_retry_after(serve: Callable[..., Server]) -> None:
    server = serve((503, {}, b""), (429, {"Retry-After": "7"}, b""), (200, {}, b"ok"))
    sleeps: list[float] = []
    assert client(sleeps, attempts=4).get(server.url).body == b"ok"
    assert sleeps == [0.5, 7.0]


def test_a_retry_after_beyond_the_cap_fails_at_once_with_the_status(serve: Callable[..., Server]) -> None:
    server = serve((429, {"Retry-After": "3600"}, b""))
    sleeps: list[float] = []
    with pytest.raises(HttpError, match="asks to wait 3600 s \\(more than 60\\)") as caught:
        client(sleeps, max_wait_s=60).get(server.url)
    assert caught.value.status == 429 and sleeps == [] and len(server.seen) == 1


def test_a_client_error_is_not_retried(serve: Callable[..., Server]) -> None:
    server = serve((404, {}, b"nope"))
    with pytest.raises(HttpError, match="HTTP 404") as caught:
        client([]).get(server.url)
    assert caught.value.status == 404 and len(server.seen) == 1


def test_a_body_shorter_than_announced_is_a_broken_transfer(serve: Callable[..., Server]) -> None:
    server = serve((200, {"Content-Length": "5000"}, b"short"))
    sleeps: list[float] = []
    with pytest.raises(HttpError, match=r"transfer broken .*\(gave up after 3 attempts\)"):
        client(sleeps).get(server.url)
    assert sleeps == [0.5, 1.0]


def test_an_answer_over_the_size_cap_is_refused(serve: Callable[..., Server]) -> None:
    big = serve((200, {}, b"x" * 5000))
    with pytest.raises(HttpError, match="5,000 bytes \\(more than the 1,000 allowed\\)"):
        client([], max_bytes=1000).get(big.url)
    unannounced = serve((200, {"Content-Length": "", "Connection": "close"}, b"x" * 5000))
    with pytest.raises(HttpError, match="more than the 1,000 bytes allowed"):
        client([], max_bytes=1000).get(unannounced.url)


def test_a_check_can_ask_again_for_a_wrong_200(serve: Callable[..., Server]) -> None:
    server = serve((200, {}, b"<html>oops</html>"), (200, {}, b"fine"))

    def check(answer: Answer) -> None:
        if answer.body.startswith(b"<html"):
            raise RetryableAnswer("an HTML page")

    sleeps: list[float] = []
    assert client(sleeps).get(server.url, check=check).body == b"fine" and sleeps == [0.5]


def test_the_rate_limit_spaces_request_starts_across_threads(serve: Callable[..., Server]) -> None:
    server = serve((200, {}, b"ok"))
    shared = client([], rate_limit=RateLimit(per_second=20.0))
    threads = [threading.Thread(target=shared.get, args=(server.url,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts = sorted(when for when, _ in server.seen)
    assert len(starts) == 6 and starts[-1] - starts[0] >= 5 * 0.05 * 0.9


def test_a_set_cancel_makes_no_request(serve: Callable[..., Server]) -> None:
    server = serve((200, {}, b"ok"))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RequestCancelled):
        client([]).get(server.url, cancel=cancel)
    assert server.seen == []


def test_nothing_listening_is_named() -> None:
    with pytest.raises(HttpError, match=r"cannot reach 127.0.0.1:9: .*\(gave up after 2 attempts\)"):
        client([], attempts=2).get("http://127.0.0.1:9/x")


def test_a_rate_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="more than 0"):
        RateLimit(per_second=0)


@pytest.mark.parametrize(
    "url",
    ["images.pokemontcg.io/s1/1.png", "file:///etc/hostname", "ftp://127.0.0.1/x.png", "http://127.0.0.1:notaport/x"],
)
def test_a_bad_url_fails_for_good_as_an_http_error_naming_it(url: str) -> None:
    waits: list[float] = []
    client = PoliteClient(sleep=waits.append)
    with pytest.raises(HttpError, match="bad URL"):
        client.get(url)
    assert waits == []  # not retried: asking again would not change it

"""SessionMiddleware (WSGI, stdlib only): cookie in, atomic slide, 401 wall, login/logout cookies, fail closed."""

from __future__ import annotations

from wsgiref.util import setup_testing_defaults

import pytest
import redis

from hcedu.backend import Keyspace
from hcedu.clock import VirtualClock
from hcedu.lab.sessionmw import SessionMiddleware
from hcedu.patterns.session import SessionStore
from tests.helpers import run_workers


def app(environ, start_response):
    """A tiny app: /login logs in, /logout[-all] logs out, anything else greets the user."""
    sessions = environ["hcedu.sessions"]
    path = environ["PATH_INFO"]
    if path == "/login":
        sessions.login("alice", role="admin")
        body = b"welcome"
    elif path.startswith("/logout"):
        body = str(sessions.logout(everywhere=path == "/logout-all")).encode()
    else:
        s = environ["hcedu.session"]
        body = f"hello {s.user_id if s else 'anonymous'}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def call(mw, path="/", cookie=None):
    environ = {}
    setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    body = b"".join(mw(environ, start_response))
    cookies = [v for k, v in got["headers"] if k == "Set-Cookie"]
    return got["status"], body, cookies, environ


def make(backend, clock=None, **kw):
    c = backend.client()
    store = SessionStore(c, ttl=60, keyspace=Keyspace("t-mw", c), clock=clock or VirtualClock())
    return SessionMiddleware(app, store, secure=False, **kw), store


def test_login_sets_a_hardened_cookie_then_requests_pass(redis_backend):
    mw, store = make(redis_backend)
    status, body, cookies, _ = call(mw, "/login")
    assert status == "200 OK" and body == b"welcome" and len(cookies) == 1
    c = cookies[0]
    sid = c.split(";")[0].split("=", 1)[1]
    assert "HttpOnly" in c and "SameSite=Lax" in c and "Path=/" in c and "Secure" not in c
    status, body, cookies, environ = call(mw, "/account", f"theme=dark; sid={sid}")
    assert (status, body, cookies) == ("200 OK", b"hello alice", [])
    assert environ["hcedu.session"].data == {"role": "admin"}


def test_protected_paths_need_a_live_session(redis_backend):
    clock = VirtualClock()
    mw, store = make(redis_backend, clock)
    assert call(mw, "/account")[0] == "401 Unauthorized"
    assert call(mw, "/health")[:2] == ("200 OK", b"hello anonymous")  # public
    assert call(mw, "/login/")[0] == "200 OK"
    assert call(mw, "/loginx")[0] == "401 Unauthorized"  # a prefix is a path segment, not a string prefix
    sid = store.create("bob")
    for _ in range(5):  # each request slides the 60 s idle timeout
        clock.advance(50)
        assert call(mw, "/a", f"sid={sid}")[1] == b"hello bob"
    clock.advance(60)
    status, _, cookies, _ = call(mw, "/a", f"sid={sid}")
    assert status == "401 Unauthorized" and "Max-Age=0" in cookies[0]  # stale cookie cleared


def test_garbage_cookies_are_no_session(redis_backend):
    mw, _ = make(redis_backend)
    for raw in ("sid=", "sid=nope", 'sid="\\x00;;', "=====", "sid=" + "a" * 300, "other=1"):
        assert call(mw, "/a", raw)[0] == "401 Unauthorized"


def test_logout_and_logout_everywhere(redis_backend):
    mw, store = make(redis_backend)
    a = store.create("alice")
    b = store.create("alice")
    status, body, cookies, _ = call(mw, "/logout", f"sid={a}")
    assert body == b"1" and "Max-Age=0" in cookies[0]
    assert call(mw, "/a", f"sid={a}")[0] == "401 Unauthorized"
    c = store.create("alice")
    assert call(mw, "/logout-all", f"sid={b}")[1] == b"2"
    assert call(mw, "/a", f"sid={c}")[0] == "401 Unauthorized"


def test_login_rotates_the_session_id(redis_backend):
    mw, store = make(redis_backend)
    old = store.create("alice")
    _, _, cookies, _ = call(mw, "/login", f"sid={old}")
    new = cookies[0].split(";")[0].split("=", 1)[1]
    assert new != old and store.get(old) is None and store.get(new).user_id == "alice"


def test_max_age_slides_the_cookie_and_secure_flag(redis_backend):
    c = redis_backend.client()
    store = SessionStore(c, ttl=60, keyspace=Keyspace("t-mw", c), clock=VirtualClock())
    mw = SessionMiddleware(app, store, "SID", max_age=60, samesite="Strict")
    sid = store.create("u")
    _, _, cookies, _ = call(mw, "/a", f"SID={sid}")
    assert cookies and "Max-Age=60" in cookies[0] and "Secure" in cookies[0] and "SameSite=Strict" in cookies[0]


def test_redis_errors_fail_closed(redis_backend):
    class Broken(SessionStore):
        def get(self, sid, touch=True):
            raise redis.ConnectionError("down")

    c = redis_backend.client()
    store = Broken(c, ttl=60, keyspace=Keyspace("t-mw", c), clock=VirtualClock())
    mw = SessionMiddleware(app, store, secure=False)
    sid = SessionStore(c, ttl=60, keyspace=Keyspace("t-mw", c)).create("u")
    assert call(mw, "/a", f"sid={sid}")[0] == "503 Service Unavailable"
    assert call(mw, "/health", f"sid={sid}")[0] == "200 OK"  # public pages still work


def test_concurrent_requests_through_the_middleware(redis_backend):
    mw, store = make(redis_backend)
    sids = [store.create(f"u{i}") for i in range(8)]
    bodies: list[bytes] = []

    def worker(k: int) -> None:
        for j in range(25):
            bodies.append(call(mw, "/a", f"sid={sids[(k + j) % 8]}")[1])

    run_workers(worker, 4, timeout=60)
    assert len(bodies) == 100 and all(b.startswith(b"hello u") for b in bodies)


def test_public_callable_and_bad_arguments(redis_backend):
    mw, store = make(redis_backend, public=lambda p: p.startswith("/static"))
    assert call(mw, "/static/x.css")[0] == "200 OK" and call(mw, "/login")[0] == "401 Unauthorized"
    with pytest.raises(TypeError, match="app must be callable"):
        SessionMiddleware(None, store)
    with pytest.raises(TypeError, match="store"):
        SessionMiddleware(app, "store")
    with pytest.raises(ValueError, match="cookie_name"):
        SessionMiddleware(app, store, "bad name;")
    with pytest.raises(ValueError, match="samesite"):
        SessionMiddleware(app, store, samesite="lax")
    with pytest.raises(ValueError, match="requires secure"):
        SessionMiddleware(app, store, samesite="None", secure=False)
    with pytest.raises(ValueError, match="max_age"):
        SessionMiddleware(app, store, max_age=0)
    with pytest.raises(TypeError, match="secure must be a bool"):
        SessionMiddleware(app, store, secure="yes")

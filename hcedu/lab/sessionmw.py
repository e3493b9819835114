"""WSGI session middleware (Go's ``func(next http.Handler) http.Handler``), standard library only.

Go composes HTTP middleware as functions that take the next handler and return a handler; WSGI does the
same with callables: ``SessionMiddleware(app, store)`` is a WSGI app wrapping ``app``, just as
``SessionAuth(next)`` wraps ``next`` in the source. Per request it:

  1. reads the session id from the cookie (``http.cookies``; a malformed header means "no cookie");
  2. loads **and slides** the session in one atomic step (:meth:`SessionStore.get` with ``touch=True``:
     one Lua script, never EXISTS-then-EXPIRE);
  3. puts the :class:`~hcedu.patterns.session.Session` (or None) in ``environ["hcedu.session"]`` and a
     :class:`RequestSessions` helper in ``environ["hcedu.sessions"]`` (``login``/``logout``), Go's
     ``context.WithValue`` on the request;
  4. answers ``401`` itself for a protected path without a live session (clearing a stale cookie), and
     sets/clears the cookie (HttpOnly, SameSite, Path; Secure unless turned off for plain-HTTP tests)
     on login, logout and, with ``max_age``, on every request (a sliding browser cookie).

Invariants: the wrapped app never runs for a protected path without a session that was live at the
moment it was slid; a Redis error fails **closed** (``503``, the app does not run) for protected paths,
instead of the source's "error means invalid session" (403), which logs everyone out during a blip.
Order matters as in Go: put request logging/recovery outside this middleware, handlers that need the
user inside it.
"""

from __future__ import annotations

import http.cookies
import re
from typing import Any, Callable, Iterable

import redis

from .. import _validate
from ..patterns.session import Session, SessionStore

__all__ = ["SessionMiddleware", "RequestSessions", "ENVIRON_SESSION", "ENVIRON_SESSIONS"]

ENVIRON_SESSION = "hcedu.session"
ENVIRON_SESSIONS = "hcedu.sessions"

StartResponse = Callable[..., Any]
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")  # an RFC 6265 cookie-name (token)


class RequestSessions:
    """Per-request helper in ``environ["hcedu.sessions"]``: log in or out and have the cookie set."""

    def __init__(self, store: SessionStore, session: Session | None) -> None:
        self.store = store
        self.session = session
        self.new_sid: str | None = None
        self.cleared = False

    def login(self, user_id: str | int, **data: Any) -> str:
        """Create a session for ``user_id`` (a new id: never reuse the old one, against session fixation);
        the response will carry its cookie. Any session this request came with is destroyed."""
        if self.session is not None:
            self.store.logout(self.session.sid)
        self.new_sid = self.store.create(user_id, data)
        self.cleared = False
        return self.new_sid

    def logout(self, everywhere: bool = False) -> int:
        """Destroy this request's session (or, with ``everywhere``, all of its user's) and clear the cookie.
        Returns how many live sessions were removed."""
        n = 0
        if self.session is not None:
            if everywhere and self.session.user_id is not None:
                n = self.store.destroy_all(self.session.user_id)
            else:
                n = int(self.store.logout(self.session.sid))
        self.session = None
        self.new_sid = None
        self.cleared = True
        return n


class SessionMiddleware:
    """Wrap a WSGI ``app`` with session loading, atomic sliding expiry and a login wall.

    ``store``: a :class:`SessionStore`. ``cookie_name``: the cookie carrying the id. ``public``: path
    prefixes reachable without a session (everything else is protected; a prefix ``"/login"`` matches
    ``/login`` and ``/login/...``), or a callable ``path -> bool`` saying whether a path is public.
    ``secure``: add the ``Secure`` flag (keep it on in production; off only for plain-HTTP tests).
    ``samesite``: ``"Lax"`` (default), ``"Strict"`` or ``"None"`` (which requires ``secure``).
    ``max_age``: None (a browser-session cookie; the server-side TTL is the authority) or seconds, re-sent
    on every request so the cookie slides with the session.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], store: SessionStore, cookie_name: str = "sid", *,
                 public: Iterable[str] | Callable[[str], bool] = ("/login", "/health"),
                 secure: bool = True, samesite: str = "Lax", path: str = "/", max_age: int | None = None) -> None:
        self.app = _validate.function("app", app)
        if not isinstance(store, SessionStore):
            raise TypeError(f"store must be a SessionStore (got {type(store).__name__})")
        self.store = store
        self.cookie_name = _validate.text("cookie_name", cookie_name)
        if not _TOKEN.fullmatch(cookie_name):
            raise ValueError(f"cookie_name must be a legal cookie name (got {cookie_name!r})")
        if callable(public):
            self.is_public: Callable[[str], bool] = public
        else:
            prefixes = tuple(_validate.text("public prefix", p) for p in public)
            self.is_public = lambda p: any(p == x or p.startswith(x.rstrip("/") + "/") for x in prefixes)
        if not isinstance(secure, bool):
            raise TypeError(f"secure must be a bool (got {type(secure).__name__})")
        self.secure = secure
        self.samesite = _validate.choice("samesite", samesite, ("Lax", "Strict", "None"))
        if samesite == "None" and not secure:
            raise ValueError("samesite='None' requires secure=True (browsers drop it otherwise)")
        self.path = _validate.text("path", path)
        self.max_age = None if max_age is None else _validate.integer("max_age", max_age, minimum=1)

    # -- cookies ------------------------------------------------------------------------------------
    def _read_sid(self, environ: dict[str, Any]) -> str | None:
        raw = environ.get("HTTP_COOKIE", "")
        if not raw:
            return None
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(raw)
        except http.cookies.CookieError:
            return None
        morsel = jar.get(self.cookie_name)
        return morsel.value if morsel is not None and morsel.value else None

    def cookie_header(self, sid: str | None) -> tuple[str, str]:
        """The ``Set-Cookie`` header that sets ``sid`` (or clears the cookie when ``sid`` is None)."""
        jar = http.cookies.SimpleCookie()
        jar[self.cookie_name] = sid or ""
        m = jar[self.cookie_name]
        m["path"] = self.path
        m["httponly"] = True
        m["samesite"] = self.samesite
        if self.secure:
            m["secure"] = True
        if sid is None:
            m["max-age"] = 0
        elif self.max_age is not None:
            m["max-age"] = self.max_age
        return ("Set-Cookie", m.OutputString())

    # -- the WSGI call --------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        public = bool(self.is_public(path))
        sid = self._read_sid(environ)
        session: Session | None = None
        if sid is not None:
            try:
                session = self.store.get(sid, touch=True)  # check + slide, one atomic step
            except redis.RedisError:
                if not public:
                    return self._reply(start_response, "503 Service Unavailable", b"session store unavailable\n")
        if session is None and not public:
            extra = [self.cookie_header(None)] if sid is not None else []
            return self._reply(start_response, "401 Unauthorized", b"login required\n", extra)
        helper = RequestSessions(self.store, session)
        environ[ENVIRON_SESSION] = session
        environ[ENVIRON_SESSIONS] = helper

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers = list(headers)
            if helper.new_sid is not None:
                headers.append(self.cookie_header(helper.new_sid))
            elif helper.cleared or (sid is not None and session is None):
                headers.append(self.cookie_header(None))
            elif session is not None and self.max_age is not None:
                headers.append(self.cookie_header(session.sid))
            return start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)

        return self.app(environ, start)

    @staticmethod
    def _reply(start_response: StartResponse, status: str, body: bytes,
               extra: list[tuple[str, str]] | None = None) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(body))), *(extra or [])])
        return [body]

    def __repr__(self) -> str:
        return f"<SessionMiddleware cookie={self.cookie_name!r} store={self.store!r}>"

"""Every multi-key script and transaction in hcedu.patterns keeps its keys in one Redis Cluster slot.

Two checks:

* static: every Lua script defined in ``hcedu.patterns`` names its keys only through ``KEYS`` (a key
  argument of ``redis.call`` is ``KEYS[...]`` or a local bound to ``KEYS[...]``: never a string built in Lua);
* dynamic: each pattern's public methods run on fakeredis under a spy that records every script call
  (``EVALSHA``, alone or queued in a pipeline), every ``MULTI`` pipeline and every multi-key list move; all
  the keys of one call must hash to one slot (``redis.crc.key_slot``, what Redis Cluster computes). The
  scripts and transactions the workout reached must be exactly the ones the source defines, so a new script
  or ``pipeline(transaction=True)`` without a workout here fails this test.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import pathlib
import pkgutil
import re
import threading

import fakeredis
import pytest
import redis

import hcedu.patterns as patterns_pkg
from hcedu.backend import Keyspace, new_fake_server
from hcedu.clock import VirtualClock
from hcedu.patterns import _slots
from hcedu.patterns._once import with_request_id

PATTERNS_DIR = pathlib.Path(patterns_pkg.__file__).parent

#: defined but run by no pattern class: checked statically only (with the reason)
STATIC_ONLY = {"delayqueue.CLAIM_LUA": "printed by chapter 11; DelayQueue runs CLAIM_FENCED_LUA"}


def _scripts() -> dict[str, str]:
    """name -> Lua source of every script constant in hcedu.patterns, plus the request-id variants the source
    registers (``with_request_id(NAME)``)."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(patterns_pkg.__path__):
        mod = importlib.import_module(f"hcedu.patterns.{info.name}")
        for attr, value in vars(mod).items():
            if attr.endswith("_LUA") and isinstance(value, str) and value not in found.values():
                found[f"{info.name}.{attr}"] = value
        src = (PATTERNS_DIR / f"{info.name}.py").read_text()
        for attr in re.findall(r"with_request_id\(([A-Z_]+)\)", src):
            found[f"{info.name}.with_request_id({attr})"] = with_request_id(getattr(mod, attr))
    return found


SCRIPTS = _scripts()
BY_SHA = {hashlib.sha1(src.encode()).hexdigest(): name for name, src in SCRIPTS.items()}


def _transactions() -> set[str]:
    """``file:line`` of every ``pipeline(transaction=True)`` in hcedu.patterns."""
    sites = set()
    for path in sorted(PATTERNS_DIR.glob("*.py")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if "pipeline(transaction=True)" in line and not line.lstrip().startswith("#"):
                sites.add(f"{path.name}:{no}")
    return sites


# -- static ------------------------------------------------------------------------------------------------
#: Lua commands the scripts use, with the positions (1-based after the command name) of their key arguments
LUA_KEY_POSITIONS = {"RPOPLPUSH": (1, 2), "TIME": ()}


def _key_args(lua: str) -> list[tuple[str, str]]:
    """(command, key expression) for every key argument of every ``redis.call``."""
    out = []
    for cmd, rest in re.findall(r"redis\.call\(\s*'(\w+)'\s*((?:,[^()]*?(?:\([^()]*\))?)*)\)", lua):
        args = [a.strip() for a in rest.split(",")[1:]] if rest else []
        for pos in LUA_KEY_POSITIONS.get(cmd.upper(), (1,)):
            out.append((cmd, args[pos - 1] if pos - 1 < len(args) else ""))
    return out


def _bound_to_keys(lua: str, name: str) -> bool:
    """True if every assignment of the local ``name`` takes a ``KEYS[...]`` element."""
    found = False
    for names, values in re.findall(r"local\s+([\w\s,]+?)\s*=\s*([^\n]+)", lua):
        names = [n.strip() for n in names.split(",")]
        if name in names:
            values = [v.strip() for v in re.split(r",(?![^\[]*\])", values)]
            value = values[names.index(name)] if names.index(name) < len(values) else ""
            if not value.startswith("KEYS["):
                return False
            found = True
    return found


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_key_a_script_touches_comes_from_KEYS(name):
    lua = SCRIPTS[name]
    args = _key_args(lua)
    assert args or "TIME" in lua, f"{name}: found no redis.call key arguments (the parser needs a look)"
    for cmd, expr in args:
        ok = re.fullmatch(r"KEYS\[[^\]]+\]", expr) or (re.fullmatch(r"[A-Za-z_]\w*", expr)
                                                       and _bound_to_keys(lua, expr))
        assert ok, f"{name}: {cmd} gets the key {expr!r}, not an element of KEYS (a key built inside Lua)"


def test_the_parser_catches_a_key_built_inside_lua():
    bad = "local k = ARGV[2] .. s\nredis.call('DEL', k)\nredis.call('GET', ARGV[1] .. 'x')"
    assert [e for _, e in _key_args(bad)] == ["k", "ARGV[1] .. 'x'"]
    assert not _bound_to_keys(bad, "k")
    good = "local s, k = ARGV[5 + i], KEYS[3 + i]\nredis.call('DEL', k)"
    assert _bound_to_keys(good, "k") and _key_args(good) == [("DEL", "k")]


def test_companion_keys_share_the_slot():
    for key in ("orders", "hcedu:ch08:lock:order", "{lock:orders}", "a{b}c"):
        assert _slots.slot(_slots.companion(key, "fence")) == _slots.slot(key), key
    assert _slots.companion("{lock:orders}", "fence") == "{lock:orders}:fence"
    assert _slots.hash_tag("a{}b") is None and _slots.hash_tag("x{y}z{w}") == "y"
    with pytest.raises(ValueError, match="brace"):
        _slots.companion("a{b", "fence")
    assert Keyspace("ch08", fakeredis.FakeRedis()).tagged("lock", "orders") == "hcedu:ch08:{lock:orders}"
    with pytest.raises(ValueError, match="tagged"):
        Keyspace("ch08", fakeredis.FakeRedis()).tagged("a{b")


# -- dynamic -----------------------------------------------------------------------------------------------
#: commands that move data between keys outside scripts (they need one slot on a cluster, like a script)
MULTI_KEY_MOVES = {"RPOPLPUSH", "BRPOPLPUSH", "LMOVE", "BLMOVE", "SMOVE"}


def _command_keys(args: tuple) -> list[str]:
    """The keys of one command as queued in a transaction (the commands the patterns use there)."""
    cmd = str(args[0]).upper()
    if cmd in ("EVALSHA", "EVAL"):
        return [str(k) for k in args[3:3 + int(args[2])]]
    if cmd == "ZUNIONSTORE":
        return [str(args[1]), *map(str, args[3:3 + int(args[2])])]
    if cmd in ("DEL", "UNLINK", "EXISTS"):
        return list(map(str, args[1:]))
    if cmd in MULTI_KEY_MOVES:
        return [str(args[1]), str(args[2])]
    if cmd in ("ZADD", "EXPIRE", "PEXPIRE", "HINCRBY", "SET", "INCRBY", "DECRBY", "XADD", "XACK", "HSET",
               "RPUSH", "LPUSH", "ZREM", "HDEL", "LREM"):
        return [str(args[1])]
    raise AssertionError(f"test_slots does not know the key positions of {cmd} (add it to _command_keys)")


class Spy:
    """Records scripts, transactions and list moves sent through one client (threads included)."""

    def __init__(self, monkeypatch) -> None:
        self.client = fakeredis.FakeRedis(server=new_fake_server(), decode_responses=True)
        self.scripts: dict[str, list[list[str]]] = {}
        self.transactions: dict[str, list[list[str]]] = {}
        self.moves: list[list[str]] = []
        self.unknown: list[str] = []
        self.seen = threading.Condition()
        self._mu = threading.Lock()
        raw_pipeline = self.client.pipeline
        conn_class = self.client.connection_pool.connection_class
        raw_send = conn_class.send_command

        def send_command(conn, *args, **options):  # every single command, also those call_once sends itself
            self._command(args)
            return raw_send(conn, *args, **options)

        def pipeline(transaction=True, shard_hint=None):
            pipe = raw_pipeline(transaction=transaction, shard_hint=shard_hint)
            caller = inspect.stack()[1]
            pipe._hcedu_site = f"{pathlib.Path(caller.filename).name}:{caller.lineno}"
            pipe._hcedu_in_patterns = pathlib.Path(caller.filename).parent == PATTERNS_DIR
            return pipe

        raw_pipe_execute = redis.client.Pipeline.execute

        def pipe_execute(pipe, raise_on_error=True):
            if getattr(pipe, "_hcedu_in_patterns", False):
                keys: list[str] = []
                for args, _ in pipe.command_stack:
                    self._command(args, in_pipeline=True)
                    if pipe.transaction:
                        keys += _command_keys(args)
                if pipe.transaction:
                    with self._mu:
                        self.transactions.setdefault(pipe._hcedu_site, []).append(keys)
            return raw_pipe_execute(pipe, raise_on_error)

        monkeypatch.setattr(conn_class, "send_command", send_command)
        self.client.pipeline = pipeline
        monkeypatch.setattr(redis.client.Pipeline, "execute", pipe_execute)

    def _command(self, args: tuple, in_pipeline: bool = False) -> None:
        cmd = str(args[0]).upper()
        with self._mu:
            if cmd == "EVALSHA":
                name = BY_SHA.get(str(args[1]))
                if name is None:
                    self.unknown.append(str(args[1]))
                else:
                    self.scripts.setdefault(name, []).append(_command_keys(args))
            elif cmd in MULTI_KEY_MOVES and not in_pipeline:
                self.moves.append(_command_keys(args))
        with self.seen:
            self.seen.notify_all()

    def wait_for_script(self, name: str, timeout: float = 5.0) -> bool:
        with self.seen:
            return self.seen.wait_for(lambda: name in self.scripts, timeout)


def _workout(spy: Spy) -> None:  # noqa: PLR0915 - one short section per pattern
    """Call the public methods of every Redis pattern once or twice (every script and MULTI path)."""
    from hcedu.patterns import (bloom, consistency, delayqueue, fencing, leaderboard, lock, ratelimit,
                                redlock, rediscounter, reliable, session, stock)
    from hcedu.patterns.listqueue import ListQueue
    from hcedu.patterns.streamqueue import StreamQueue

    c = spy.client
    ks = Keyspace("slots", c)
    clock = VirtualClock(1_000_000.0)

    a = lock.RedisLock(c, "orders", 10, clock)
    assert a.acquire(blocking=False) and a.extend() and a.release()
    tagged = lock.RedisLock(c, "{lock:orders}", 10, clock)
    assert tagged.acquire(blocking=False) and tagged.fence_key == "{lock:orders}:fence" and tagged.release()
    assert fencing.RedisFencedResource(c, ks.key("res")).write("v", 1)
    rl = redlock.Redlock([c], "rl-orders", 10, clock, parallel=False)
    assert rl.acquire(blocking=False) and rl.extend() and rl.release()

    f = bloom.BloomFilter(c, capacity=100, keyspace=ks, name="users")
    f.add("a")
    f.add_many(["b", "c"])
    assert "a" in f

    db = consistency.VersionedDB(clock)
    for strategy in (consistency.VersionedSet(db, c, keyspace=ks), consistency.LeaseCache(db, c, keyspace=ks)):
        strategy.write("k", "v1")
        strategy.read("k")
        strategy.read("k")

    cnt = rediscounter.RedisCounter("pv", client=c, keyspace=ks)
    cnt.incr(2, request_id="r1")
    cnt.incr(2, request_id="r1")
    batched = rediscounter.BatchedRedisCounter("bv", client=c, keyspace=ks, flush_every=2, flush_interval=None)
    batched.incr()
    batched.incr()
    batched.close()

    q = delayqueue.DelayQueue("jobs", client=c, keyspace=ks, clock=clock, lease=5)
    q.put("1", clock.now())
    q.put_many({"2": clock.now(), "3": clock.now(), "4": clock.now() + 100})
    leases = q.claim(limit=3)
    assert q.extend(leases[0]) and q.ack(leases[0])
    assert q.ack_many(leases[1:2]) == 1
    assert q.cancel("4")
    clock.advance(6)
    assert q.recover()

    for tie_break, period in (("earliest", "daily"), ("none", "daily")):
        lb = leaderboard.Leaderboard(f"lb-{tie_break}", client=c, keyspace=ks, clock=clock, tie_break=tie_break,
                                     period=period, max_score=1000 if tie_break == "earliest" else None)
        lb.add("ann", 5)
        lb.add("bob", 3, request_id="r1")
        lb.set_score("cid", 4)
        lb.around("bob")
        first = lb.period_key()
        clock.advance(86_400)
        lb.add("ann", 1)
        lb.merge([first, lb.period_key()])

    for cls in (ratelimit.FixedWindowLimiter, ratelimit.SlidingLogLimiter, ratelimit.SlidingWindowCounterLimiter,
                ratelimit.TokenBucketLimiter, ratelimit.GCRALimiter):
        lim = cls(c, limit=2, window=10, keyspace=ks, clock=clock)
        assert lim.allow("u").allowed

    sq = StreamQueue("events", client=c, keyspace=ks, lease=0, max_deliveries=1)
    sq.publish("x", msg_id="m1")
    assert sq.read("c1", block=None)
    assert sq.reclaim("c2", min_idle=0) == []  # delivered once already: dead-lettered (MULTI XADD + XACK)
    assert sq.dead_letters()

    lq = ListQueue("work", client=c, keyspace=ks, clock=clock, lease=5, max_deliveries=2)
    lq.push_many([("1", "a"), ("2", "b"), ("3", "c")])
    assert lq.ack(lq.take())
    assert lq.ack_many(lq.take_many(1)) == 1
    lq.take()
    clock.advance(6)
    lq.reap()
    got = lq.take(timeout=0.5)  # the queue holds the reaped message: the script path
    assert got is not None
    lq.push("late", msg_id="4")
    lq.clear()
    timer = threading.Timer(0.05, lambda: lq.push("late", msg_id="5"))
    timer.start()
    assert lq.take(timeout=3) is not None  # empty queue: BRPOPLPUSH, then the lease MULTI
    timer.join()

    renewed = threading.Event()

    def slow_handler(msg):
        renewed.set() if spy.wait_for_script("reliable._RENEW_MARK_LUA") else None

    idem = reliable.IdempotentHandler(slow_handler, client=c, keyspace=ks, inflight_ttl=0.03)
    assert idem(reliable.Message("e1", "m1", "body", 1)) == "handled"
    assert renewed.is_set(), "the renew script never ran while the handler waited"

    def failing(msg):
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        reliable.IdempotentHandler(failing, client=c, keyspace=ks, name="failing")(
            reliable.Message("e2", "m2", "body", 1))

    ss = session.SessionStore(c, ttl=60, keyspace=ks, clock=clock)
    sid = ss.create("ann", {"cart": 1})
    old = ss.create("ann")
    assert ss.get(sid) and ss.update(sid, cart=2)
    assert ss.destroy(old)
    ss.create("bob")  # expires unseen: the sweep deletes it
    clock.advance(61)
    ss.create("ann")  # examines the dead ids
    assert ss.sweep() == 1
    ss.sessions_of("ann")
    assert ss.destroy_all("ann") == 1

    st = stock.Stock(c, "sku", keyspace=ks, max_qty=2)
    st.load(3)
    assert st.attempt("u1", order_id="o1") == "ok"
    assert st.cancel("u1") == 1


@pytest.fixture(scope="module")
def workout():
    mp = pytest.MonkeyPatch()
    try:
        spy = Spy(mp)
        _workout(spy)
    finally:
        mp.undo()
    return spy


def test_every_script_call_keeps_its_keys_in_one_slot(workout):
    assert not workout.unknown, f"scripts this test does not know ran: {workout.unknown}"
    for name, calls in sorted(workout.scripts.items()):
        for keys in calls:
            slots = {_slots.slot(k) for k in keys}
            assert len(slots) <= 1, f"{name} touched keys of {len(slots)} slots: {keys}"


def test_every_transaction_keeps_its_keys_in_one_slot(workout):
    for site, calls in sorted(workout.transactions.items()):
        for keys in calls:
            assert len({_slots.slot(k) for k in keys}) == 1, f"MULTI at {site} spans slots: {keys}"
    for keys in workout.moves:
        assert len({_slots.slot(k) for k in keys}) == 1, f"a list move spans slots: {keys}"
    assert workout.moves, "the workout never blocked in BRPOPLPUSH"


def test_the_workout_covers_every_script_and_transaction(workout):
    defined = set(SCRIPTS) - set(STATIC_ONLY)
    assert set(workout.scripts) == defined, (
        f"scripts never run by the workout: {sorted(defined - set(workout.scripts))}; "
        f"run but not static-only: {sorted(set(workout.scripts) - defined)}")
    assert set(STATIC_ONLY) <= set(SCRIPTS), "a STATIC_ONLY script no longer exists"
    assert set(workout.transactions) == _transactions(), (
        f"MULTI sites defined {sorted(_transactions())}, run {sorted(workout.transactions)}")
    assert len(SCRIPTS) >= 40 and len(_transactions()) >= 6  # the finders found what is there (42 + 7 today)

"""Exercise 17 (hash slots and cluster-safe lock keys): the slot functions and lock keys a learner writes first
are rejected with a verdict naming the mistake; the reference is accepted, against redis-py's rule and against a
real cluster-enabled redis-server's CLUSTER KEYSLOT."""

from __future__ import annotations

import binascii
import zlib

import pytest

from hcedu.course import check
from hcedu.lab import redis_cluster, redis_server
from tests.helpers import assert_accepted, assert_rejected
from tests.solution_code import solution_namespace

_SOLUTION = solution_namespace("17_hash_slots.ipynb")
key_slot, lock_keys = _SOLUTION["key_slot"], _SOLUTION["lock_keys"]


def crc(data: bytes) -> int:
    return binascii.crc_hqx(data, 0) % 16384


# -- correct alternatives ------------------------------------------------------------------------------------

def str_based_slot(key):
    """Finds the braces in the str, then encodes: the same positions, braces being ASCII."""
    start = key.find("{")
    if start != -1:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc(key.encode())


def user_lock_keys(name):
    return f"lock:{{{name}}}", f"fence:{{{name}}}"


def test_the_reference_and_alternatives_are_accepted():
    assert_accepted(check.hash_slots(key_slot, lock_keys))
    assert_accepted(check.hash_slots(str_based_slot, user_lock_keys))


# -- wrong key_slot, as a learner writes it --------------------------------------------------------------------

def whole_key(key):
    """Forgets hash tags."""
    return crc(key.encode())


def last_close_brace(key):
    """Takes the tag up to the LAST '}'."""
    start, end = key.find("{"), key.rfind("}")
    if start != -1 and end > start + 1:
        key = key[start + 1:end]
    return crc(key.encode())


def last_open_brace(key):
    """Takes the tag from the LAST '{'."""
    start = key.rfind("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if start != -1 and end > start + 1:
        key = key[start + 1:end]
    return crc(key.encode())


def any_close_brace(key):
    """Looks for '}' from the start of the key, not after the '{'."""
    start, end = key.find("{"), key.find("}")
    if start != -1 and end > start + 1:
        key = key[start + 1:end]
    return crc(key.encode())


def empty_tag_counts(key):
    """Hashes the empty tag of '{}' instead of the whole key."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if start != -1 and end != -1:
        key = key[start + 1:end]
    return crc(key.encode())


def keeps_the_braces(key):
    """Hashes '{tag}' with its braces."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if start != -1 and end > start + 1:
        key = key[start:end + 1]
    return crc(key.encode())


def modulo_16383(key):
    """Off by one: slots are 0..16383, so the modulus is 16384."""
    return binascii.crc_hqx(key_slot_bytes(key), 0) % 16383


def key_slot_bytes(key):
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    return (key[start + 1:end] if start != -1 and end > start + 1 else key).encode()


def crc32(key):
    """The wrong CRC: zlib's CRC-32."""
    return zlib.crc32(key_slot_bytes(key)) % 16384


def python_hash(key):
    """Python's hash(): salted per process, and not what Redis computes."""
    return hash(key_slot_bytes(key)) % 16384


def ascii_only(key):
    """Drops non-ASCII characters before hashing."""
    return crc(key_slot_bytes(key).decode().encode("ascii", "ignore"))


def returns_a_string(key):
    """Returns the slot as text (e.g. read back from redis-cli)."""
    return str(key_slot(key))


def lower_cased(key):
    """Lower-cases the key first ("keys are case-insensitive"): User:1000 is in slot 8589, not user:1000's 1649."""
    return key_slot(key.lower())


def stripped(key):
    """Strips whitespace off the key and off its tag: ' foo', 'foo\\n' and '{ user1 }:x' hash differently."""
    data = key.strip()
    start = data.find("{")
    end = data.find("}", start + 1) if start != -1 else -1
    if start != -1 and end != -1 and data[start + 1:end].strip():
        data = data[start + 1:end].strip()
    return crc(data.encode())


def tag_stripped(key):
    """Strips only the tag's whitespace: '{ user1 }:x' hashes ' user1 ', spaces included."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    if start != -1 and end > start + 1 and key[start + 1:end].strip():
        key = key[start + 1:end].strip()
    return crc(key.encode())


WRONG_SLOTS = [
    (whole_key, ["only the tag"]),
    (last_close_brace, ["first"]),
    (last_open_brace, ["first"]),
    (any_close_brace, ["after it"]),
    (empty_tag_counts, ["empty tag"]),
    (keeps_the_braces, ["without the braces"]),
    (modulo_16383, ["16384"]),
    (crc32, ["crc32"]),
    (python_hash, ["crc_hqx"]),
    (ascii_only, ["UTF-8"]),
    (returns_a_string, ["must return an int"]),
    (lower_cased, ["it lower-cases the key"]),
    (stripped, ["it strips whitespace"]),
    (tag_stripped, ["it strips the tag's whitespace"]),
]


@pytest.mark.parametrize("slot_fn, mentions", WRONG_SLOTS, ids=[w[0].__name__ for w in WRONG_SLOTS])
def test_wrong_key_slot_is_rejected(slot_fn, mentions):
    assert_rejected(check.hash_slots(slot_fn, lock_keys), *mentions)


# -- wrong lock_keys -----------------------------------------------------------------------------------------

def no_tag(name):
    """The chapter's naive keys: two slots, CROSSSLOT."""
    return f"lock:{name}", f"lock:{name}:fence"


def tag_on_one_key(name):
    """Tags the lock key only."""
    return f"{{lock:{name}}}", f"lock:{name}:fence"


def one_tag_for_all(name):
    """One constant tag: cluster-safe, and one hot slot for every lock."""
    return f"{{lock}}:{name}", f"{{lock}}:{name}:fence"


def same_key_twice(name):
    """The fence stored in the lock key itself."""
    return f"{{lock:{name}}}", f"{{lock:{name}}}"


def name_left_out(name):
    """Tags by a hash of the name but leaves the name out of the keys."""
    return f"{{{zlib.crc32(name.encode())}}}:lock", f"{{{zlib.crc32(name.encode())}}}:fence"


def one_string(name):
    """Returns the lock key only."""
    return f"{{lock:{name}}}"


def salted_hash_tag(name):
    """Tags by Python's hash(): spread and deterministic within one process, but salted per process
    (PYTHONHASHSEED), so two processes take different keys for the same lock."""
    tag = hash(name) % 16384
    return f"{{{tag}}}:lock:{name}", f"{{{tag}}}:fence:{name}"


def truncated_name(name):
    """Keeps the keys short: the first 12 characters ('report:2024-01-01:daily' and ':weekly' become one lock)."""
    tag = "{lock:" + name[:12] + "}"
    return tag, tag + ":fence"


def lower_cased_name(name):
    """Lower-cases the name: 'Orders' and 'orders' become one lock."""
    tag = "{lock:" + name.lower() + "}"
    return tag, tag + ":fence"


WRONG_LOCKS = [
    (no_tag, ["CROSSSLOT"]),
    (tag_on_one_key, ["CROSSSLOT"]),
    (one_tag_for_all, ["hot slot"]),
    (same_key_twice, ["same key twice"]),
    (name_left_out, ["name the lock"]),
    (one_string, ["two key strings"]),
    (salted_hash_tag, ["PYTHONHASHSEED"]),
    (truncated_name, ["first 12 characters"]),
    (lower_cased_name, ["lower-cased"]),
]


@pytest.mark.parametrize("keys_fn, mentions", WRONG_LOCKS, ids=[w[0].__name__ for w in WRONG_LOCKS])
def test_wrong_lock_keys_are_rejected(keys_fn, mentions):
    assert_rejected(check.hash_slots(key_slot, keys_fn), *mentions)


def test_an_unsolved_stub_is_reported_as_unsolved():
    def stub(key):
        raise NotImplementedError
    v = check.hash_slots(stub, lock_keys)
    assert v.unsolved and not v


# -- against a real server --------------------------------------------------------------------------------------

@pytest.mark.cluster
@pytest.mark.skipif(not redis_cluster.available(), reason=redis_cluster.NOT_INSTALLED)
def test_the_servers_cluster_keyslot_is_the_reference_too():
    """A cluster-enabled redis-server answers CLUSTER KEYSLOT without being part of a formed cluster."""
    port = redis_cluster.cluster_ports(1)[0]
    with redis_server.start(port, args=("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf")) as node:
        with node.client() as c:
            assert_accepted(check.hash_slots(key_slot, lock_keys, node=c))
            assert_rejected(check.hash_slots(last_close_brace, lock_keys, node=c), "first")
            assert_rejected(check.hash_slots(key_slot, one_tag_for_all, node=c), "hot slot")
        assert node.alive()
    assert not node.alive(), "the server outlived its block"

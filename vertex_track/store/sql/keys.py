"""Primary keys: unique by construction, handed out by the database in blocks.

Rows are written with keys made on the client (no round trip per row for a
generated key, see :mod:`.batch`). A key is ``block << BLOCK_BITS | n``: the
*block* is a number the database gives out once (one row,
``vt_key_blocks.next_block``, bumped with ``UPDATE ... RETURNING``, which both
SQLite and PostgreSQL serialize), ``n`` counts within it. Two processes, or
two machines sharing a database, therefore never draw the same key: the
database never hands out a block twice. A process takes a new block when its
current one runs low, before a write transaction starts (one extra statement
every ~1M keys), and a forked child starts with none of its parent's.

The write path does not rely on that alone: inserts skip only clashes of
``(store_id, resource_id)`` (an artifact with content recorded before, an
execution another process recorded), never of the primary key, so a key
clash, however it came about, is an ``IntegrityError`` that the store
detects (:func:`is_key_clash`), answers by dropping its block and writes
again with new keys.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam

from . import tables as t

if TYPE_CHECKING:
    from .fast import FastPath

#: Keys per block (the low bits of a key).
BLOCK_BITS = 20
BLOCK = 1 << BLOCK_BITS
#: Below this many keys left, a new block is taken before the next write transaction
#: (so a transaction rarely has to take one itself).
LOW_WATER = BLOCK // 16


class KeyAllocator:
    """The key blocks of one database in this process (shared by its store objects)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next = 0  # next key to hand out
        self.end = 0  # first key past the current block(s)
        self.pid = os.getpid()

    def remaining(self) -> int:
        return self.end - self.next

    def discard(self) -> None:
        """Drop the current block (after a key clash): the next keys come from a new one."""
        with self.lock:
            self.next = self.end = 0

    def take(self, fast: FastPath, n: int, cur: Any = None) -> list[int]:
        """``n`` new keys.

        ``cur``: the cursor of the write transaction the keys are for. A block
        taken inside that transaction is used for these keys only (if the
        transaction rolls back, the database hands the block out again, so
        this process must not keep it). Without ``cur`` a block is taken in a
        transaction of its own: never call it so inside a write transaction.
        """
        with self.lock:
            if self.pid != os.getpid():  # forked: the parent owns these
                self.pid, self.next, self.end = os.getpid(), 0, 0
            start = self.next
            if self.end - start >= n:
                self.next = start + n
                return list(range(start, start + n))
        blocks = -(-n // BLOCK)
        if cur is not None:
            first = _allocate(fast, cur, blocks)
            return list(range(first << BLOCK_BITS, (first << BLOCK_BITS) + n))
        first = fast.write(lambda tx: _allocate(fast, tx.cur, blocks + 1), top_up=False)
        with self.lock:
            # The new blocks replace what is left of the old one (a few keys unused).
            self.next = (first << BLOCK_BITS) + n
            self.end = (first + blocks + 1) << BLOCK_BITS
            return list(range(first << BLOCK_BITS, (first << BLOCK_BITS) + n))

    def top_up(self, fast: FastPath) -> None:
        """Take a new block now if few keys are left (called before a write transaction)."""
        if self.end - self.next < LOW_WATER or self.pid != os.getpid():
            with self.lock:
                if self.pid != os.getpid():
                    self.pid, self.next, self.end = os.getpid(), 0, 0
            first = fast.write(lambda tx: _allocate(fast, tx.cur, 1), top_up=False)
            with self.lock:
                if self.end - self.next < LOW_WATER:
                    self.next, self.end = first << BLOCK_BITS, (first + 1) << BLOCK_BITS


def _allocate(fast: FastPath, cur: Any, blocks: int) -> int:
    """Take ``blocks`` consecutive blocks in the transaction of ``cur``; returns the first."""
    kb = t.key_blocks
    sql, order = fast.positional(
        ("key_blocks",),
        lambda: kb.update()
        .where(kb.c.id == 1)
        .values(next_block=kb.c.next_block + bindparam("n"))
        .returning(kb.c.next_block),
    )
    cur.execute(sql, tuple(blocks if name == "n" else 1 for name in order))
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("the store has no key block row (vt_key_blocks); it was not migrated")
    return int(row[0]) - blocks


_allocators: weakref.WeakKeyDictionary[Any, KeyAllocator] = weakref.WeakKeyDictionary()
_allocators_lock = threading.Lock()


def allocator_for(engine: Any) -> KeyAllocator:
    with _allocators_lock:
        alloc = _allocators.get(engine)
        if alloc is None:
            alloc = _allocators[engine] = KeyAllocator()
        return alloc


def is_key_clash(exc: BaseException) -> bool:
    """Whether an integrity error is a primary-key clash (not a taken resource id)."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None) if diag is not None else None
    if constraint:  # PostgreSQL: the constraint's name (named by tables.NAMING)
        return str(constraint).startswith("pk_")
    msg = str(orig)
    # SQLite: "UNIQUE constraint failed: vt_events.id"
    return "constraint failed" in msg and msg.rstrip().endswith(".id")

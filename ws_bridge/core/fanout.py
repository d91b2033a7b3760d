"""Fan-out of one tick's messages to every session, encoding as little as possible. No I/O.

Per tick the shell hands :meth:`Fanout.dispatch` the tick's messages (contract messages, or
already :class:`~ws_bridge.core.protocol.Encoded` alerts from the alert log) and its sessions:

1. each message is JSON-encoded **once** (:func:`~ws_bridge.core.protocol.encode`);
2. sessions are grouped by subscription set; a group's selection is the messages of its
   channels, in tick order;
3. a session whose next batch would be exactly that selection (empty backlog, no pending gap or
   extension message, no alert resume or replay running, interval elapsed, frames in flight below
   the limit, selection within ``batch_max`` and the queue limits, no alert it has already seen)
   joins the group's *shared* frame: ``[`` + the encoded messages joined by ``,`` + ``]``, built
   once per subscription set and handed to the shell with all its sessions;
4. every other session — in particular one with a backlog — gets the selection appended to its
   own bounded queue as one :class:`~ws_bridge.core.outbox.Chunk`, the same object (and pre-joined
   text) for every such session of the group (:meth:`ClientSession.deliver_chunk`; whole oldest
   chunks are dropped on overflow, counted from a per-chunk summary); it then sends its own batches
   from that queue at its own pace (:meth:`ClientSession.next_frame` at
   :meth:`ClientSession.next_send_at`), so a slow client never holds back the shared frame and
   its order is kept: nothing it gets in a shared frame can overtake its backlog.

A shared frame is, byte for byte, what the session's own ``next_frame`` would have produced.

The fanout also keeps the latest ``exposure-change``, ``pnl-change`` and ``account-risk-top``
and the latest ``lp-metrics`` of every LP, so a new subscriber gets a snapshot first
(:meth:`Fanout.snapshot`); likewise the latest ``lp-markout`` of every LP, ``markout-curve``
of every symbol and book, and ``account-toxicity`` and ``routing-advice`` of every account
under watch or toxic (an account back to normal leaves the snapshot, which never holds every
client).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.outbox import Chunk
from ws_bridge.core.protocol import Encoded, Message, encode
from ws_bridge.core.session import ClientSession

# Channels whose every message is the whole state (P&L, the top accounts): the latest one is
# a new subscriber's snapshot.
LATEST_STATE = ("pnl-updates", "account-risk")
# Channels whose messages are the latest state of a key (an LP, a curve, an account).
KEYED_STATE = ("markouts", "flow-toxicity")
_FLAGGED = ("watch", "toxic")


def _state_key(item: Encoded) -> tuple[str, bool]:
    """The key of a keyed-state message, and whether a new subscriber's snapshot holds it."""
    mtype, data = item.message["type"], item.message["data"]
    if mtype == "lp-markout":
        return f"{mtype}:{data['lpName']}", True
    if mtype == "markout-curve":
        return f"{mtype}:{data['symbol']}|{data['book']}", True
    return f"{mtype}:{data['accountId']}", data.get("level") in _FLAGGED


@dataclass(frozen=True, slots=True)
class Delivery:
    """One frame for several sessions (the shell sends it to each, then calls ``frame_sent``)."""

    frame: str
    sessions: tuple[ClientSession, ...]
    count: int  # messages in the frame
    channels: frozenset[str]  # the subscription set of the group


@dataclass(frozen=True, slots=True)
class Dispatch:
    """The result of one tick: shared frames, and sessions whose own queue got messages (the
    shell wakes their writers)."""

    deliveries: list[Delivery]
    queued: list[ClientSession]


class Fanout:
    """Latest-state snapshots and once-per-subscription-set encoding.

    ``settings``: the sessions' batch and queue limits (every session of a server has the same).
    With them, a tick larger than one batch is shared too: its first ``batch_max`` messages as
    the group's frame, the rest queued as shared chunks that the sessions send right after (as
    a session that queued the whole tick would, byte for byte: only when the tick fits in an
    empty queue, so nothing is dropped either way). Without them such a tick is queued whole.
    """

    def __init__(self, settings: BridgeSettings | None = None) -> None:
        self._batch_max: int | None = None
        self._max_messages = self._max_bytes = 0
        if settings is not None:
            self._batch_max = settings.batch_max
            self._max_messages = settings.queue_max_messages
            self._max_bytes = settings.queue_max_bytes
        self._exposure: Encoded | None = None
        self._lp: dict[str, Encoded] = {}
        # channel -> its latest message, for the channels of one latest-state message
        self._latest: dict[str, Encoded] = {}
        self._keyed: dict[str, dict[str, Encoded]] = {c: {} for c in KEYED_STATE}
        self.messages_encoded = 0
        self.frames_built = 0

    def encode_all(self, messages: Iterable[Message | Encoded]) -> list[Encoded]:
        out = []
        for message in messages:
            if isinstance(message, Encoded):
                out.append(message)
            else:
                out.append(encode(message))
                self.messages_encoded += 1
        return out

    def observe(self, item: Encoded) -> None:
        """Keep ``item`` if it is the newest exposure, P&L or top accounts, or the newest
        metrics of its LP."""
        # By channel, not type: each of the two channels carries one type, and the channel is
        # there without parsing a message written straight from Kafka (Encoded.parsed None).
        channel = item.channel
        if channel == "exposure-updates":
            if self._exposure is None or item.timestamp >= self._exposure.timestamp:
                self._exposure = item
        elif channel == "lp-performance":
            name = str(item.message["data"]["lpName"])
            held = self._lp.get(name)
            if held is None or item.timestamp >= held.timestamp:
                self._lp[name] = item
        elif channel in LATEST_STATE:
            latest = self._latest.get(channel)
            if latest is None or item.timestamp >= latest.timestamp:
                self._latest[channel] = item
        elif channel in KEYED_STATE:
            states, (key, keep) = self._keyed[channel], _state_key(item)
            held = states.get(key)
            if held is not None and item.timestamp < held.timestamp:
                return
            if keep:
                states[key] = item
            else:
                states.pop(key, None)

    def snapshot(self, channels: Iterable[str]) -> list[Encoded]:
        """The latest state of ``channels``: every LP's metrics (by name), then exposure, then
        the latest P&L and top accounts."""
        wanted = set(channels)
        out: list[Encoded] = []
        if "lp-performance" in wanted:
            out.extend(self._lp[name] for name in sorted(self._lp))
        if "exposure-updates" in wanted and self._exposure is not None:
            out.append(self._exposure)
        out.extend(self._latest[c] for c in LATEST_STATE if c in wanted and c in self._latest)
        for channel in KEYED_STATE:
            if channel in wanted:
                states = self._keyed[channel]
                out.extend(states[key] for key in sorted(states))
        return out

    def dispatch(
        self,
        messages: Iterable[Message | Encoded],
        sessions: Iterable[ClientSession],
        now: float,
    ) -> Dispatch:
        """Route one tick's messages to ``sessions`` (see the module docstring)."""
        items = self.encode_all(messages)
        for item in items:
            self.observe(item)
        groups: dict[frozenset[str], list[ClientSession]] = {}
        for session in sessions:
            if session.closed is None and session.subscriptions:
                groups.setdefault(frozenset(session.subscriptions), []).append(session)
        deliveries: list[Delivery] = []
        queued: list[ClientSession] = []
        for channels, members in groups.items():
            selected = [item for item in items if item.channel in channels]
            if not selected:
                continue
            chunk = Chunk(selected, shared=True)
            chunk.at = now
            shared = self._split(chunk, members, now, queued)
            if shared:
                first = self._first(chunk)
                rest = None
                if first is not chunk:  # a tick larger than a batch (see the class docstring)
                    rest = Chunk(chunk.items[len(first) :], shared=True)
                    rest.at = now
                self.frames_built += 1
                for session in shared:
                    session.mark_shared(first, now)
                    if rest is not None:
                        session.deliver_chunk(rest, now)
                        queued.append(session)
                deliveries.append(Delivery(first.frame, tuple(shared), len(first), channels))
        return Dispatch(deliveries, queued)

    def _first(self, chunk: Chunk) -> Chunk:
        """What of the tick's ``chunk`` a group's frame carries: all of it, or its first batch
        when it is larger than a batch but fits in an empty queue (see the class docstring)."""
        size = self._batch_max
        if size is None or len(chunk.items) <= size:
            return chunk
        if len(chunk.items) > self._max_messages or chunk.nbytes > self._max_bytes:
            return chunk  # would drop in a lagging session's queue: each decides (no sharing)
        return chunk.pieces(size)[0]

    def _split(
        self,
        chunk: Chunk,
        members: Sequence[ClientSession],
        now: float,
        queued: list[ClientSession],
    ) -> list[ClientSession]:
        """The members that share the tick's frame (:meth:`_first`); the others queue it."""
        first = self._first(chunk)
        shared = []
        for session in members:
            if session.can_share(first, now):
                shared.append(session)
            else:
                session.deliver_chunk(chunk, now)
                queued.append(session)
        return shared

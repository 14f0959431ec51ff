"""Where stateful sequences keep their hidden state between requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnn_serve.service.engine.state.base import SequenceState, StateStore
from rnn_serve.service.engine.state.memory import MemoryStore

if TYPE_CHECKING:
    from rnn_serve.service.settings import Settings

__all__ = ["MemoryStore", "SequenceState", "StateStore", "open_store"]


def open_store(settings: Settings) -> StateStore:
    """Redis when RNN_SERVE_STATE_URL is set, else this process's memory."""
    if settings.state_url:
        from rnn_serve.service.engine.state.redis import RedisStore

        return RedisStore(
            settings.state_url,
            settings.sequence_idle_timeout_s,
            settings.sequence_lock_timeout_s,
            settings.state_replicas,
        )
    return MemoryStore(settings.max_sequences, settings.sequence_idle_timeout_s)

"""Access keys minted for SAML sessions, remembered while their credentials can live.

AWS refuses GetSessionToken and GetFederationToken to SAML-session credentials
(aws-sts-saml.md §1.2); moto mints ordinary keys, so the strict layers remember which ones
came from AssumeRoleWithSAML. The memory is bounded: a key is forgotten once a session could
no longer be alive (12 hours, AWS's longest) or when ``capacity`` newer keys came after it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

#: AssumeRoleWithSAML's longest session (DurationSeconds 43200): no key outlives it.
LONGEST_SESSION_SECONDS = 43_200


class SessionKeys:
    """A bounded, thread-safe set of access key ids, each kept for the longest session."""

    def __init__(
        self, capacity: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()

    def add(self, access_key: str) -> None:
        """Remember ``access_key`` for the longest session."""
        with self._lock:
            now = self._clock()
            self._forget_expired(now)
            self._expiry.pop(access_key, None)
            self._expiry[access_key] = now + LONGEST_SESSION_SECONDS
            while len(self._expiry) > self._capacity:
                self._expiry.popitem(last=False)

    def any_of(self, access_keys: Iterable[str]) -> bool:
        """Tell whether one of ``access_keys`` is remembered."""
        with self._lock:
            self._forget_expired(self._clock())
            return any(key in self._expiry for key in access_keys)

    def snapshot(self) -> frozenset[str]:
        """Return the keys remembered now."""
        with self._lock:
            self._forget_expired(self._clock())
            return frozenset(self._expiry)

    def __contains__(self, access_key: object) -> bool:
        return isinstance(access_key, str) and self.any_of((access_key,))

    def __len__(self) -> int:
        with self._lock:
            self._forget_expired(self._clock())
            return len(self._expiry)

    def _forget_expired(self, now: float) -> None:
        # Every key lives equally long, so insertion order is expiry order.
        while self._expiry and next(iter(self._expiry.values())) <= now:
            self._expiry.popitem(last=False)

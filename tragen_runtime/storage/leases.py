"""Agent leases: each agent runs in exactly one worker of one server at a time.

A lease is a row (agent_id, owner, expires_at). A worker heartbeats in `workers`, renews
what it owns, releases what is above its fair share, and claims expired or free leases up
to `ceil(agents / live workers) + slack`, so the first worker does not take all agents and a
new worker gets its part within one round. A dead worker's agents are claimed by others when
their leases expire (after at most `ttl_seconds`). Claims use a conditional UPDATE; on
PostgreSQL the candidates are picked with `FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tragen_runtime.storage.db import Database


@dataclass(frozen=True)
class RoundResult:
    owned: frozenset[str]
    gained: frozenset[str]
    lost: frozenset[str]
    released: frozenset[str]
    live_workers: int
    fair_share: int


def fair_share(total: int, live_workers: int, slack: int = 1) -> int:
    return math.ceil(total / max(1, live_workers)) + slack if total else 0


@dataclass
class LeaseManager:
    db: Database
    worker_id: str
    host: str
    pid: int
    release_id: str
    ttl: float
    slack: int = 1
    min_live: int = 1  # this server's worker count: they all start at once, share from the start
    owned: set[str] = field(default_factory=set)

    def heartbeat(self, now: float, agents: int = 0, rss: int = 0, cpu: float = 0.0) -> int:
        """Record this worker alive; returns the number of live workers (self included)."""
        with self.db.write() as tx:
            tx.execute(
                "INSERT INTO workers (worker_id, host, pid, release_id, started_at, heartbeat_at, "
                "agents, rss_bytes, cpu_percent) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (worker_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, "
                "agents = excluded.agents, rss_bytes = excluded.rss_bytes, "
                "cpu_percent = excluded.cpu_percent",
                (self.worker_id, self.host, self.pid, self.release_id, now, now, agents, rss, cpu))
            tx.execute("DELETE FROM workers WHERE heartbeat_at < %s", (now - 10 * self.ttl,))
            rows = tx.execute("SELECT COUNT(*) FROM workers WHERE heartbeat_at > %s",
                              (now - self.ttl,))
        return max(1, int(rows[0][0]))

    def run_round(self, now: float, wanted: set[str], can_claim: bool = True,
                  rss: int = 0, cpu: float = 0.0, share_factor: float = 1.0) -> RoundResult:
        """One scheduling round: heartbeat, renew, rebalance, claim. `wanted` = known ids;
        `share_factor` < 1 runs fewer agents here (the scale_down_agents breaker)."""
        live = self.heartbeat(now, len(self.owned), rss, cpu)
        expires = now + self.ttl
        with self.db.write() as tx:
            renewed = {r[0] for r in tx.execute(
                "UPDATE leases SET expires_at = %s WHERE owner = %s RETURNING agent_id",
                (expires, self.worker_id))}
            total = int(tx.execute("SELECT COUNT(*) FROM leases")[0][0])
        lost = self.owned - renewed
        mine = renewed & wanted
        foreign = renewed - wanted  # agents this release does not know: give them back
        share = fair_share(total, max(live, self.min_live), self.slack)
        if share_factor < 1.0:
            share = int(share * max(0.0, share_factor))
        excess = sorted(mine)[share:] if len(mine) > share else []
        released = set(excess) | foreign
        if released:
            self.release(released)
            mine -= released
        gained: set[str] = set()
        if can_claim and len(mine) < share:
            gained = self._claim(now, expires, share - len(mine), wanted)
            mine |= gained
        self.owned = mine
        return RoundResult(frozenset(mine), frozenset(gained), frozenset(lost),
                           frozenset(released), live, share)

    def _claim(self, now: float, expires: float, limit: int, wanted: set[str]) -> set[str]:
        with self.db.write() as tx:
            if tx.dialect == "postgresql":
                rows = tx.execute(
                    "UPDATE leases SET owner = %s, expires_at = %s, epoch = epoch + 1 "
                    "WHERE agent_id IN (SELECT agent_id FROM leases WHERE owner IS NULL OR "
                    "expires_at < %s ORDER BY agent_id LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "AND (owner IS NULL OR expires_at < %s) RETURNING agent_id",
                    (self.worker_id, expires, now, limit, now))
            else:
                rows = tx.execute(
                    "UPDATE leases SET owner = %s, expires_at = %s, epoch = epoch + 1 "
                    "WHERE agent_id IN (SELECT agent_id FROM leases WHERE owner IS NULL OR "
                    "expires_at < %s ORDER BY agent_id LIMIT %s) RETURNING agent_id",
                    (self.worker_id, expires, now, limit))
        claimed = {r[0] for r in rows}
        unknown = claimed - wanted
        if unknown:
            self.release(unknown)
        return claimed & wanted

    def release(self, agent_ids: set[str]) -> None:
        """Give leases back at once (after the agents' state is persisted)."""
        if not agent_ids:
            return
        with self.db.write() as tx:
            tx.executemany("UPDATE leases SET owner = NULL, expires_at = 0 "
                           "WHERE agent_id = %s AND owner = %s",
                           [(a, self.worker_id) for a in sorted(agent_ids)])
        self.owned -= agent_ids

    def release_all(self) -> None:
        """Release every lease and deregister this worker (graceful stop)."""
        with self.db.write() as tx:
            tx.execute("UPDATE leases SET owner = NULL, expires_at = 0 WHERE owner = %s",
                       (self.worker_id,))
            tx.execute("DELETE FROM workers WHERE worker_id = %s", (self.worker_id,))
        self.owned.clear()

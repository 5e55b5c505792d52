"""Agent leases: each agent runs in exactly one worker of one server at a time.

A lease is a row (agent_id, owner, expires_at). A worker heartbeats in `workers`, renews
what it owns, releases what is above its fair share, and claims expired or free leases up
to `ceil(agents / live workers) + slack`, so the first worker does not take all agents and a
new worker gets its part within one round. A dead worker's agents are claimed by others when
their leases expire (after at most `ttl_seconds`). Claims use a conditional UPDATE; on
PostgreSQL the candidates are picked with `FOR UPDATE SKIP LOCKED`.

An agent with open positions must always have an owner, or nobody manages its positions.
So releases take flat agents first, the memory breaker's shed never releases an agent with
positions (it stays until flat), and claims take agents with positions first, up to the
full fair share even while shedding.
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
    held: frozenset[str] = frozenset()  # kept above the shed share: they hold positions


def fair_share(total: int, live_workers: int, slack: int = 1) -> int:
    return math.ceil(total / max(1, live_workers)) + slack if total else 0


def shed_share(full: int, share_factor: float) -> int:
    """The agents a worker runs while the memory breaker scales agents down."""
    return int(full * max(0.0, share_factor)) if share_factor < 1.0 else full


def plan_release(mine: frozenset[str] | set[str], holding: frozenset[str], full: int,
                 share: int) -> set[str]:
    """Which of this worker's agents to give back: flat agents first (highest ids first, as
    before), down to `share`; an agent holding positions only for the ordinary fair-share
    excess above `full`, never because of a shed below it.

    The fair-share excess always fits elsewhere (the live workers' full shares add up to
    every agent, and claims take agents with positions first, up to the full share even
    while shedding). A shed has no such room: if every worker sheds, an agent released with
    open positions might be owned by nobody. So it stays until it is flat and goes in a
    later round.
    """
    flat = sorted(set(mine) - holding)
    held = sorted(set(mine) & holding)
    n_flat = min(len(flat), max(0, len(mine) - share))
    n_held = min(len(held), max(0, len(mine) - full - n_flat))
    return set(flat[len(flat) - n_flat:]) | set(held[len(held) - n_held:])


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
                  rss: int = 0, cpu: float = 0.0, share_factor: float = 1.0,
                  holding: frozenset[str] = frozenset()) -> RoundResult:
        """One scheduling round: heartbeat, renew, rebalance, claim. `wanted` = known ids;
        `share_factor` < 1 runs fewer agents here (the scale_down_agents breaker);
        `holding` = this worker's agents with open positions, which a shed never releases
        (see `plan_release`) and which are claimed up to the full fair share even while
        shedding, so no agent with positions is left without an owner."""
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
        full = fair_share(total, max(live, self.min_live), self.slack)
        share = shed_share(full, share_factor)
        excess = plan_release(mine, frozenset(holding), full, share)
        released = excess | foreign
        if released:
            self.release(released)
            mine -= released
        gained: set[str] = set()
        if can_claim and len(mine) < share:
            gained = self._claim(now, expires, share - len(mine), wanted)
            mine |= gained
        if can_claim and share < full and len(mine) < full:  # shedding: orphans with positions
            orphans = self._claim(now, expires, full - len(mine), wanted, only_holding=True)
            gained |= orphans
            mine |= orphans
        self.owned = mine
        return RoundResult(frozenset(mine), frozenset(gained), frozenset(lost),
                           frozenset(released), live, share,
                           frozenset(mine & holding) if len(mine) > share else frozenset())

    def _claim(self, now: float, expires: float, limit: int, wanted: set[str],
               only_holding: bool = False) -> set[str]:
        """Claim up to `limit` free or expired leases, those of agents with open positions
        first (an orphaned agent's positions are managed again before a flat agent runs);
        `only_holding` claims nothing else."""
        holds = "EXISTS (SELECT 1 FROM positions p WHERE p.agent_id = l.agent_id)"
        free = "(l.owner IS NULL OR l.expires_at < %s)"
        where = f"{free} AND {holds}" if only_holding else free
        order = f"ORDER BY CASE WHEN {holds} THEN 0 ELSE 1 END, l.agent_id LIMIT %s"
        with self.db.write() as tx:
            if tx.dialect == "postgresql":
                rows = tx.execute(
                    "UPDATE leases SET owner = %s, expires_at = %s, epoch = epoch + 1 "
                    f"WHERE agent_id IN (SELECT l.agent_id FROM leases l WHERE {where} "
                    f"{order} FOR UPDATE OF l SKIP LOCKED) "
                    "AND (owner IS NULL OR expires_at < %s) RETURNING agent_id",
                    (self.worker_id, expires, now, limit, now))
            else:  # SQLite: BEGIN IMMEDIATE already serialises writers
                rows = tx.execute(
                    "UPDATE leases SET owner = %s, expires_at = %s, epoch = epoch + 1 "
                    f"WHERE agent_id IN (SELECT l.agent_id FROM leases l WHERE {where} "
                    f"{order}) RETURNING agent_id",
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

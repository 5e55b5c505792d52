"""Trading safety for the whole fleet: one state in the database, read by every worker.

- `config`: the breakers, limits and procedures of `circuit_breakers` and `portfolio_risk`.
- `figures`: the fleet's figures (equity, losses, open risk, correlation) from persisted rows.
- `judge`: trips, cooldowns and resets as a pure function of the state and the figures.
- `orders`: the pre-trade checks every order passes.
- `store`: the safety state's tables: evaluation under a lock, events, operator commands.
- `diversification`: shares of agents per strategy and timeframe, and correlation limits.
"""

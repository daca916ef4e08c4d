"""Rate limits per API key and per client address, answered with the IETF RateLimit headers.

The algorithm is the `limits` library's sliding window counter (pinned in pyproject): the
closest it has to a token bucket (an allowance that refills continuously instead of all at
once at a window edge, so a burst is bounded by the limit, never twice it). Counters live
where every process sees them: Redis (`AKOWE_REDIS_URL`), the database (through
`akowe.db.database.Database`, `akowe.ratelimit.storage`), or memory for a single process.
`akowe.ratelimit.limiter` keeps the hot path cheap by leasing tokens from the shared store a
few at a time.
"""

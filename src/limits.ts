// Rate limits: a token bucket per name (device, key, socket), refilled continuously. A flood from
// one name empties only its own bucket, so it never starves the others.
export interface RateLimiter {
  /** Takes one token for `name`; returns 0 if allowed, else the seconds until one is available. */
  take(name: string): number;
}

export function createRateLimiter(perSecond: number, now: () => number, burst = Math.max(1, perSecond)): RateLimiter {
  if (perSecond <= 0) return { take: () => 0 };
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(name) {
      const t = now();
      let bucket = buckets.get(name);
      if (bucket === undefined) {
        // Bounded: forget idle names rather than grow without end under a flood of made-up ones.
        if (buckets.size >= 100_000) buckets.clear();
        buckets.set(name, (bucket = { tokens: burst, at: t }));
      } else {
        bucket.tokens = Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);
        bucket.at = t;
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return (1 - bucket.tokens) / perSecond;
    },
  };
}

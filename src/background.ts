// Background work of one app: close cycles whose device went quiet past the gap, notice boards silent
// mid-cycle, close subscribers that stopped reading, and prune history past retention.
import type { Config } from "./config";
import type { Services } from "./services";

const HOUR = 3_600_000;

export function createBackground(s: Services, config: Config, cycleCheckMs?: number) {
  const timers: ReturnType<typeof setInterval>[] = [];
  const prune = () => {
    const before = s.clock.now() - config.retentionDays * 24 * HOUR;
    s.store.prune(before).then(
      (removed) => removed > 0 && s.log.info("history pruned", { readings: removed, retention_days: config.retentionDays }),
      (error) => s.log.error("pruning history failed", { error: String(error) }),
    );
  };
  // A subscriber that stops reading is closed before its backlog grows past SLOW_CLIENT_BYTES, so it
  // costs neither memory nor anyone else's latency; it can resume with its last seq.
  const closeSlowSockets = () => {
    for (const socket of s.sockets) {
      const backlog = socket.getBufferedAmount?.() ?? 0;
      if (backlog > config.slowClientBytes) {
        s.log.warn("subscriber too slow, closed", { peer: socket.remoteAddress, unsent_bytes: backlog });
        socket.close(1013, `too slow: ${backlog} bytes unsent; reconnect with since=<last seq>`);
      }
    }
  };
  return {
    start() {
      const checkMs = cycleCheckMs ?? Math.min(config.cipGapMinutes * 6_000, 10_000);
      const closeIdle = s.cluster ? s.cluster.closeIdle : s.cycles.closeIdle;
      timers.push(setInterval(() => closeIdle(s.clock.now()), checkMs));
      // A board silent mid-cycle is noticed within a few seconds of BOARD_SILENT_SECONDS.
      const silentCheckMs = cycleCheckMs ?? Math.min(config.boardSilentSeconds * 250, 5_000);
      timers.push(setInterval(() => s.boards.checkSilent(s.clock.now()), silentCheckMs));
      timers.push(setInterval(closeSlowSockets, 250));
      timers.push(setInterval(prune, HOUR));
      timers.push(setTimeout(prune, 0));
    },
    stop() {
      for (const timer of timers.splice(0)) clearInterval(timer);
    },
  };
}

// Anti-entropy arithmetic: how often to exchange full state with a random
// member (memberlist's pushPullScale) and how likely a reconnect attempt to a
// failed member is in each interval (serf's reconnect). Both keep the cost per
// member flat as the cluster grows.

/** Up to this many members the push-pull interval is not stretched. */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/**
 * The push-pull interval for a cluster of `clusterSize`: unchanged up to 32
 * members, then one more interval for each doubling,
 * intervalMs * (ceil(log2(n) - log2(32)) + 1). A full exchange carries n
 * records, so stretching it keeps the bytes per member per second from growing
 * linearly with n.
 */
export function pushPullScaleMs(intervalMs: number, clusterSize: number): number {
  if (clusterSize <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(clusterSize) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return intervalMs * multiplier;
}

/**
 * Chance that a member tries to reconnect to one failed member this interval:
 * failed / alive, capped at 1. Across the cluster that is about one attempt per
 * failed member per interval, however many members there are.
 */
export function reconnectProbability(failedCount: number, aliveCount: number): number {
  if (failedCount <= 0) return 0;
  return Math.min(1, failedCount / Math.max(1, aliveCount));
}

/**
 * Peak memory during a run (burst): the coordinator's resident set (the sum of VmRSS over its
 * processes, sampled, and at the end the sum of their VmHWM, the kernel's own high-water mark per
 * process) and Redis's used_memory (sampled: INFO's used_memory_peak survives FLUSHALL and
 * CONFIG RESETSTAT, so it would still show the ceiling benchmark).
 */
import type { Redis } from 'ioredis';
import { statusBytes } from './proc.js';

export interface MemoryPeaks {
  /** Sampled peak of Σ VmRSS of the coordinator's processes (bytes); null without its pids. */
  coordinator_rss_peak_bytes: number | null;
  /** Σ VmHWM of the coordinator's processes at the end (bytes): a peak no sample can miss. */
  coordinator_vmhwm_bytes: number | null;
  /** Σ VmRSS when sampling started (bytes). */
  coordinator_rss_start_bytes: number | null;
  /** null for an external coordinator (the bench Redis is not its store). */
  redis_used_memory_peak_bytes: number | null;
  redis_used_memory_start_bytes: number | null;
  samples: number;
}

export interface MemorySampler {
  stop(): Promise<MemoryPeaks>;
}

/** Samples every `everyMs` until stopped. */
export function sampleMemory(pids: () => number[], admin: Redis, everyMs = 250): MemorySampler {
  const rss = (): number => pids().reduce((s, p) => s + statusBytes(p, 'VmRSS'), 0);
  const usedMemory = async (): Promise<number> => {
    const text = await admin.info('memory');
    const m = /^used_memory:(\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  const hasPids = pids().length > 0;
  const peaks = { rss: rss(), rssStart: rss(), redis: 0, redisStart: -1, samples: 0 };
  let busy: Promise<void> = Promise.resolve();
  const sample = async (): Promise<void> => {
    peaks.rss = Math.max(peaks.rss, rss());
    const u = await usedMemory().catch(() => 0);
    if (peaks.redisStart < 0) peaks.redisStart = u;
    peaks.redis = Math.max(peaks.redis, u);
    peaks.samples++;
  };
  busy = sample();
  const timer = setInterval(() => {
    busy = busy.then(sample);
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      await sample();
      return {
        coordinator_rss_peak_bytes: hasPids ? peaks.rss : null,
        coordinator_vmhwm_bytes: hasPids ? pids().reduce((s, p) => s + statusBytes(p, 'VmHWM'), 0) : null,
        coordinator_rss_start_bytes: hasPids ? peaks.rssStart : null,
        redis_used_memory_peak_bytes: peaks.redis,
        redis_used_memory_start_bytes: peaks.redisStart,
        samples: peaks.samples,
      };
    },
  };
}

/**
 * STORE_WAIT_REPLICAS: an acknowledged write is confirmed only once N replicas hold it (Redis
 * `WAIT`), so a failover to a replica that lagged cannot lose a transaction the caller was told
 * about. Redis replication is otherwise asynchronous: a master killed while its replica lags
 * takes the writes the replica had not received with it.
 *
 * `WAIT` covers every write made before it on the same connection, and blocks that connection
 * while it waits, so acknowledged writes have a connection of their own (store.ts), and WAIT is
 * sent once per event-loop turn per master, after the writes it confirms have been answered:
 * every write of that turn shares its answer (group commit). On a cluster it goes to the master
 * that owns the written key's slot.
 */
import calculateSlot from 'cluster-key-slot';
import { Cluster, type Redis } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import type { RedisClient } from './redis.js';
import { storeError } from './store-error.js';

export interface Durability {
  /** Replicas that must hold an acknowledged write; 0 disables waiting. */
  replicas: number;
  /** How long to wait for them before the write is reported unconfirmed (503). */
  timeoutMs: number;
}

export interface ReplicaWaiter {
  /**
   * Resolves once `replicas` replicas hold every write already answered on the connection that
   * carries `key`.
   * @throws StoreUnavailableError when they do not within the timeout (the write stands on the
   *   master; recovery finishes the transaction as if the caller had not been answered).
   */
  confirm(key: string): Promise<void>;
}

/** The connection of the master that owns `key`: the client itself, or a cluster's node. */
function connectionOf(client: RedisClient, key: string): Redis {
  if (!(client instanceof Cluster)) return client;
  const owner = client.slots[calculateSlot(key)]?.[0];
  const node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (node === undefined) throw new StoreUnavailableError(`no known master owns the slot of ${key}`);
  return node;
}

export function createReplicaWaiter(client: RedisClient, durability: Durability): ReplicaWaiter {
  const { replicas, timeoutMs } = durability;
  /** The WAIT each connection will send at the end of this turn, shared by its callers. */
  const pending = new Map<Redis, Promise<void>>();

  const waitOn = (node: Redis): Promise<void> =>
    new Promise((resolve, reject) => {
      setImmediate(() => {
        pending.delete(node);
        node.wait(replicas, timeoutMs).then(
          (acked) => {
            if (acked >= replicas) resolve();
            else {
              reject(
                new StoreUnavailableError(
                  `written on the master, but only ${acked} of ${replicas} replicas confirmed it within ${timeoutMs} ms (STORE_WAIT_REPLICAS)`,
                ),
              );
            }
          },
          (err: unknown) => reject(storeError(err, 'wait')),
        );
      });
    });

  return {
    async confirm(key) {
      if (replicas <= 0) return;
      const node = connectionOf(client, key);
      let p = pending.get(node);
      if (p === undefined) {
        p = waitOn(node);
        pending.set(node, p);
      }
      await p;
    },
  };
}

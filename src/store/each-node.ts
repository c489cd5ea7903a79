/**
 * Runs a set-up function on every node connection of a client: the client itself for a single
 * Redis, or each node of a cluster as ioredis discovers it.
 */
import { Cluster, type Redis } from 'ioredis';

export function eachNode(client: Redis | Cluster, setUp: (node: Redis) => void): void {
  if (client instanceof Cluster) {
    client.on('+node', (node: Redis) => setUp(node));
    return;
  }
  setUp(client);
}

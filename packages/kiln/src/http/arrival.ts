import type { Server } from "node:http";
import type { FastifyRequest } from "fastify";

// A per-copy symbol is right here: only this server's own code reads what it stored.
const ARRIVED = Symbol("kiln.arrived");

/**
 * Stamps each request with the time its headers arrived (`performance.now()`), before Fastify
 * routes it. Fastify keeps a time only for routes with an onResponse hook, and that hook costs
 * every request its response listeners; this costs one property.
 */
export function stampArrivals(server: Server): void {
  server.prependListener("request", (req) => {
    (req as unknown as Record<symbol, number>)[ARRIVED] = performance.now();
  });
}

/** When the request arrived, or undefined (a request injected without a socket). */
export function arrivedAt(req: FastifyRequest): number | undefined {
  return (req.raw as unknown as Record<symbol, number | undefined>)[ARRIVED];
}

/** Milliseconds since the request arrived; 0 when that is not known. */
export function elapsedMs(req: FastifyRequest): number {
  const at = arrivedAt(req);
  return at === undefined ? 0 : performance.now() - at;
}

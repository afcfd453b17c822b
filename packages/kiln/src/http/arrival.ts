import type { Server } from "node:http";
import type { FastifyRequest } from "fastify";

// A per-copy symbol is right here: only this server's own code reads what it stored.
const ARRIVED: unique symbol = Symbol("kiln.arrived");

// The stamp is a property of Node's request object, declared for the type checker only: a
// property read and write cost nothing more than they did untyped (a WeakMap would cost every
// request a hash lookup, and this is read on every answer).
declare module "node:http" {
  interface IncomingMessage {
    /** When its headers arrived (`performance.now()`); set by stampArrivals. */
    [ARRIVED]?: number;
  }
}

/**
 * Stamps each request with the time its headers arrived (`performance.now()`), before Fastify
 * routes it. Fastify keeps a time only for routes with an onResponse hook, and that hook costs
 * every request its response listeners; this costs one property.
 */
export function stampArrivals(server: Server): void {
  server.prependListener("request", (req) => {
    req[ARRIVED] = performance.now();
  });
}

/** When the request arrived, or undefined (a request injected without a socket). */
export function arrivedAt(req: FastifyRequest): number | undefined {
  return req.raw[ARRIVED];
}

/** Milliseconds since the request arrived; 0 when that is not known. */
export function elapsedMs(req: FastifyRequest): number {
  const at = arrivedAt(req);
  return at === undefined ? 0 : performance.now() - at;
}

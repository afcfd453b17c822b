import { KilnError } from "../../errors.ts";
import type { Dialect } from "../dialect.ts";

export async function postgresDialect(_url: string): Promise<Dialect> {
  throw new KilnError("KILN_BAD_CONFIG", "PostgreSQL support is coming (phase 2)");
}

import type { BuiltInTable } from "../tables/schema.ts";
import { usersTable } from "../users/users-table.ts";

/**
 * The data tables every app has, each declared by the service that keeps its data there. The
 * tables service knows none of them by name: whatever opens an app's tables (the app, `kiln
 * tables`, `kiln types`, the check of kiln.yaml) passes this list.
 */
export const builtInTables: readonly BuiltInTable[] = [usersTable];

import type { CookiesService } from "../cookies/cookies-service.ts";
import type { TablesService } from "../tables/service.ts";
import type { UsersService } from "../users/users-service.ts";

export type { KilnService } from "../http/service.ts";

/**
 * An app's started services, each under its own typed field: a service reaches another one
 * (users need the tables) by name without a string lookup or a cast. A field is undefined
 * before `app.ready()` and after `app.close()`.
 */
export interface AppServices {
  readonly tables?: TablesService;
  readonly cookies?: CookiesService;
  readonly users?: UsersService;
}

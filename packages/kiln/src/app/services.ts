import { cookiesService } from "../cookies/cookies-service.ts";
import { tablesService } from "../tables/index.ts";
import { usersService } from "../users/users-service.ts";
import type { ServiceFactory } from "./service.ts";

/**
 * The built-in services, in start order. Later services may use earlier ones (users need
 * tables; sessions need the database), and pipeline features run in this order too
 * (CORS → session/XSRF → authenticate).
 */
export const builtInServices: ServiceFactory[] = [tablesService, cookiesService, usersService];

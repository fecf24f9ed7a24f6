/**
 * The admin HTTP API, the dashboard and the API docs: one Hono app.
 *
 * @module
 */
export { adminApp, type AdminDeps } from "./app.ts";
export { bearerMatches } from "./auth.ts";
export { type AdminHooks, type DomainStateProvider, type LiveDomainState } from "./domain_state.ts";
export { newMessageSchema } from "./message_routes.ts";
export { type ActorDescription, supervisorDomainState } from "./supervisor_state.ts";

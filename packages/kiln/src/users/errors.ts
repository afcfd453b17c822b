import { KilnError } from "../errors.ts";

/**
 * Wrong email or password, an unknown email, or a disabled account: one error for all, so
 * the answer never tells which. Uncaught in a handler it answers 401.
 * @example
 * try { await users.loginWithEmail(email, password) }
 * catch (e) { if (e instanceof AuthenticationFailed) return new HttpResponse({ status: 401 }) }
 */
export class AuthenticationFailed extends KilnError {
  declare readonly code: "KILN_AUTHENTICATION_FAILED";
  constructor() {
    super("KILN_AUTHENTICATION_FAILED", "Incorrect email address or password");
    this.name = "AuthenticationFailed";
  }
}

/** Too many failed attempts for this account from this address: try again later (429). */
export class TooManyAttempts extends KilnError {
  declare readonly code: "KILN_TOO_MANY_ATTEMPTS";
  readonly retryAfterSeconds: number;
  override readonly details: { readonly retryAfter: number };
  constructor(retryAfterSeconds: number) {
    super(
      "KILN_TOO_MANY_ATTEMPTS",
      `Too many failed login attempts; try again in ${retryAfterSeconds} s`,
    );
    this.name = "TooManyAttempts";
    this.retryAfterSeconds = retryAfterSeconds;
    this.details = { retryAfter: retryAfterSeconds };
  }
}

/** Signing up with an email that already has an account (409). */
export class UserExists extends KilnError {
  declare readonly code: "KILN_USER_EXISTS";
  constructor(email: string) {
    super("KILN_USER_EXISTS", `A user with the email address ${email} already exists`);
    this.name = "UserExists";
  }
}

/** An email or password that cannot be used for an account (400); the message says why. */
export class InvalidCredentials extends KilnError {
  declare readonly code: "KILN_INVALID_CREDENTIALS";
  constructor(message: string) {
    super("KILN_INVALID_CREDENTIALS", message);
    this.name = "InvalidCredentials";
  }
}

/**
 * A page on another site made the browser send credentials or a login (a form post to a
 * login endpoint, remembered Basic credentials, a URL with a password in it) to an endpoint
 * that does not list that page's origin in `crossOrigin`. Refused (403) before any password
 * check, so it neither logs anyone in nor counts as a failed guess.
 */
export class CrossSiteRefused extends KilnError {
  declare readonly code: "KILN_CROSS_SITE_REFUSED";
  constructor() {
    super(
      "KILN_CROSS_SITE_REFUSED",
      "This request was made by a page on another site, which may not log in or act as a user here (list its origin in the endpoint's crossOrigin to allow it)",
    );
    this.name = "CrossSiteRefused";
  }
}

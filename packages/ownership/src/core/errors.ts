/**
 * Bad input is reported as one typed error that names the offending field
 * ("members[2].weight", "k", "origins[17]"), so a CLI or an HTTP API can show
 * it as is and a caller can tell its own mistake from a bug in this package.
 */

/** Thrown for invalid input; `field` names the argument or element at fault. */
export class OwnershipInputError extends Error {
  /** The path of the field at fault, e.g. "members[2].weight". */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "OwnershipInputError";
    this.field = field;
  }
}

/** Checks that `k` is an integer >= 1 (a priority list of length k). */
export function checkK(k: number, field = "k"): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new OwnershipInputError(field, `must be an integer >= 1, got ${String(k)}`);
  }
}

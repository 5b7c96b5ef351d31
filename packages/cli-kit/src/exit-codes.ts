/**
 * The exit codes every Heck command line uses, so a script can tell "it
 * answered no" from "you called it wrong" without reading the message.
 */

/** The command did what was asked. */
export const EXIT_OK = 0;
/** The command ran but the operation did not happen: not found, not applied, no node answered, a check failed. */
export const EXIT_FAILED = 1;
/** The command was called wrong: an unknown or malformed flag, a missing argument, a bad config file. Nothing was done. */
export const EXIT_USAGE = 2;

import type { CheckError, CheckErrorKind } from "./types.ts";

/** OpenSSL certificate verification codes Node reports as `err.code`. */
const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
]);

/**
 * Names a failed connection or request from the error's `code` (Node,
 * undici and OpenSSL codes) and message. The probes add `timeout`,
 * `status` and `body` themselves; this covers what the socket reports.
 */
export function classifyErrorCode(code: string | undefined, message: string): CheckErrorKind {
  const c = code ?? "";
  if (c === "ECONNREFUSED") return "refused";
  if (c === "ECONNRESET" || c === "EPIPE" || c === "UND_ERR_SOCKET" || c === "UND_ERR_CLOSED") return "reset";
  if (c === "ENOTFOUND" || c === "EAI_AGAIN" || c === "EAI_NONAME" || c === "EAI_FAIL") return "dns";
  if (c === "ETIMEDOUT" || c === "UND_ERR_CONNECT_TIMEOUT" || c === "UND_ERR_HEADERS_TIMEOUT" || c === "UND_ERR_BODY_TIMEOUT") return "timeout";
  if (TLS_CODES.has(c) || c.startsWith("ERR_TLS_") || c.startsWith("ERR_SSL_") || /\bSSL\b|\bTLS\b|certificate/i.test(message)) return "tls";
  if (c.startsWith("HPE_") || c === "UND_ERR_INFO" || c === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") return "protocol";
  if (c === "UND_ERR_REQ_RETRY" || /redirect/i.test(message)) return "redirect";
  return "network";
}

/** Builds a named {@link CheckError}, keeping the code in the message so it stays searchable. */
export function checkError(kind: CheckErrorKind, message: string): CheckError {
  return { kind, message };
}

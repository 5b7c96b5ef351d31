/**
 * HTTPS requests that trust the caller's own CA and present a client
 * certificate, which Node's global fetch cannot be given. undici is loaded
 * on the first such request, not when the module is: a client on plain HTTP
 * (most command-line calls) never pays for loading it.
 */
import type { Agent, fetch as undiciFetch } from "undici";

/** PEM texts: the CA to trust, and the client certificate with its key. */
export interface TlsFiles {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

/** A fetch over TLS with {@link TlsFiles}; its pooled connections are closed by {@link TlsFetch.close}. */
export class TlsFetch {
  private loaded: Promise<{ agent: Agent; fetch: typeof undiciFetch }> | undefined;

  constructor(private readonly files: TlsFiles) {}

  /** Fetches `url` through this client's connection pool (created on the first call). */
  async fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<Response> {
    this.loaded ??= import("undici").then((undici) => {
      const f = this.files;
      return { agent: new undici.Agent({ connect: { ...(f.ca ? { ca: f.ca } : {}), ...(f.cert ? { cert: f.cert } : {}), ...(f.key ? { key: f.key } : {}) } }), fetch: undici.fetch };
    });
    const { agent, fetch } = await this.loaded;
    return (await fetch(url, { ...init, dispatcher: agent })) as unknown as Response;
  }

  /** Closes the pooled connections, if a request ever opened any. */
  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded).agent.close();
  }
}

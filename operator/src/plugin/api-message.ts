/** The API server's own words for a failed call (its Status message), else the error text. */
export function apiMessage(err: unknown): { code?: number; text: string } {
  const e = err as { code?: number; body?: unknown; message?: string };
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not JSON: keep the text
    }
  }
  const msg = (body as { message?: unknown } | undefined)?.message;
  return { ...(e.code !== undefined ? { code: e.code } : {}), text: typeof msg === 'string' ? msg : (e.message ?? String(err)) };
}

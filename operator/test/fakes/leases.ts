/**
 * A state-based fake of the coordination room's LeaseApi: one namespace of Leases with the
 * API server's optimistic concurrency (create of an existing name 409, replace/delete at a
 * stale resourceVersion 409, missing 404) and a count of calls by verb, as the API server
 * would see them. Several LeaseClaims/LeaseBudget instances sharing one fake are several
 * replicas on one API server.
 */
import type { LeaseApi, LeaseRecord } from '../../src/coordination/lease-api.js';
import { apiError } from './kube.js';

export class FakeLeases implements LeaseApi {
  readonly leases = new Map<string, LeaseRecord>();
  readonly calls: Record<'create' | 'read' | 'replace' | 'remove' | 'list', number> = { create: 0, read: 0, replace: 0, remove: 0, list: 0 };
  /** When set, every call rejects with this HTTP status (an unavailable API). */
  failWith: number | undefined;
  private rv = 0;

  async create(l: LeaseRecord): Promise<LeaseRecord> {
    this.calls.create++;
    this.maybeFail();
    if (this.leases.has(l.name)) throw apiError(409, `leases "${l.name}" already exists`);
    return this.store(l);
  }

  async read(name: string): Promise<LeaseRecord | undefined> {
    this.calls.read++;
    this.maybeFail();
    return this.leases.get(name);
  }

  async replace(l: LeaseRecord): Promise<LeaseRecord> {
    this.calls.replace++;
    this.maybeFail();
    const cur = this.leases.get(l.name);
    if (!cur) throw apiError(404, `leases "${l.name}" not found`);
    if (cur.resourceVersion !== l.resourceVersion) throw apiError(409, `the object has been modified`);
    return this.store(l);
  }

  async remove(name: string, resourceVersion: string): Promise<void> {
    this.calls.remove++;
    this.maybeFail();
    const cur = this.leases.get(name);
    if (!cur) return;
    if (cur.resourceVersion !== resourceVersion) throw apiError(409, 'precondition failed');
    this.leases.delete(name);
  }

  async list(labelSelector: string): Promise<LeaseRecord[]> {
    this.calls.list++;
    this.maybeFail();
    const [key, value] = labelSelector.split('=') as [string, string | undefined];
    return [...this.leases.values()].filter((l) => (value === undefined ? key in l.labels : l.labels[key] === value));
  }

  private store(l: LeaseRecord): LeaseRecord {
    const stored = { ...l, resourceVersion: String(++this.rv) };
    this.leases.set(l.name, stored);
    return stored;
  }

  private maybeFail(): void {
    if (this.failWith !== undefined) throw apiError(this.failWith, 'unavailable');
  }
}

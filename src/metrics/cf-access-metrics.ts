import { Injectable, Logger } from '@nestjs/common';
import { type CfAccessReason } from '../cf-access.errors.js';

/** One refused request, as reported to `onRejection` listeners. */
export interface CfAccessRejection {
  reason: CfAccessReason;
  /** The HTTP status the request was refused with (401, 403 or 503). */
  status: number;
  /** `Controller.handler` of the refused route. */
  route: string;
  /** The execution context type: `http`, `graphql` or `ws`. */
  contextType: string;
}

/** A function told of every refused request; it must not throw (a throw is logged and ignored). */
export type CfAccessRejectionListener = (rejection: CfAccessRejection) => void;

/**
 * Counts the requests `CfAccessGuard` refused, by reason, and tells subscribers of each one:
 * the hook for Prometheus counters, audit logs or alerts. Never holds a token.
 */
@Injectable()
export class CfAccessMetrics {
  private readonly logger = new Logger(CfAccessMetrics.name);
  private readonly counts = new Map<CfAccessReason, number>();
  private readonly listeners = new Set<CfAccessRejectionListener>();

  /** Refusals so far, by reason. */
  rejections(): Partial<Record<CfAccessReason, number>> {
    return Object.fromEntries(this.counts);
  }

  /** Calls `listener` for every refusal from now on; returns a function that unsubscribes it. */
  onRejection(listener: CfAccessRejectionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records one refusal (called by the guard). */
  record(rejection: CfAccessRejection): void {
    this.counts.set(rejection.reason, (this.counts.get(rejection.reason) ?? 0) + 1);
    for (const listener of this.listeners) {
      try {
        listener(rejection);
      } catch (error) {
        this.logger.warn(`A rejection listener threw: ${String(error)}`);
      }
    }
  }
}

/**
 * A client whose handlers record everything they get, for the integration tests; uses the `ws`
 * package's WebSocket (Node 20 has no global one) and collects debug lines to check that no
 * token is ever logged.
 */

import WebSocket from 'ws';

import {
  AnalyticsWebSocket,
  type AlertData,
  type AnalyticsClientError,
  type AnalyticsWebSocketOptions,
  type ConnectionState,
  type ExposureChangeData,
  type GapData,
  type LpMetricsData,
  type RoutingDecisionData,
  type RoutingSummaryData,
  type SubscribedData,
  type UnsubscribedData,
} from '@rtx/analytics-client';

export class Recorder {
  readonly routing: RoutingDecisionData[] = [];
  readonly summaries: RoutingSummaryData[] = [];
  readonly lp: LpMetricsData[] = [];
  readonly exposure: ExposureChangeData[] = [];
  readonly alerts: AlertData[] = [];
  readonly gaps: GapData[] = [];
  readonly errors: AnalyticsClientError[] = [];
  readonly states: ConnectionState[] = [];
  readonly subscribed: SubscribedData[] = [];
  readonly unsubscribed: UnsubscribedData[] = [];
  readonly logLines: string[] = [];
  readonly client: AnalyticsWebSocket;

  constructor(options: Omit<AnalyticsWebSocketOptions, 'WebSocket'>) {
    this.client = new AnalyticsWebSocket(
      {
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
        debug: true,
        logger: (line) => this.logLines.push(line),
        ...options,
        WebSocket,
      },
      {
        onRoutingMetrics: (d) => this.routing.push(d),
        onRoutingSummary: (d) => this.summaries.push(d),
        onLPPerformance: (d) => this.lp.push(d),
        onExposureUpdate: (d) => this.exposure.push(d),
        onAlert: (d) => this.alerts.push(d),
        onGap: (g) => this.gaps.push(g),
        onError: (e) => this.errors.push(e),
        onStateChange: (s) => this.states.push(s),
        onSubscribed: (d) => this.subscribed.push(d),
        onUnsubscribed: (d) => this.unsubscribed.push(d),
      },
    );
  }

  /** The numbers of the alerts received (produce_derived.py ids are `ts-client-NNNNNN`). */
  alertNumbers(): number[] {
    return this.alerts.map((a) => Number(a.id.slice('ts-client-'.length)));
  }
}

/** `count` consecutive numbers from `start`. */
export function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { defaultPayloadConverter, optionalTsToDate } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { decodePayloadsIn } from '../../lib/node/payload-codec';

// A workflow's history as the Web UI shows it, for the operator's desk: per event its type, time,
// the activity (or local activity, timer, update) it is about, the one-line summary the saga gave
// it and the failure message, instead of raw protobuf. Workflow-task bookkeeping is left out.

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
type Payload = temporal.api.common.v1.IPayload;
type Failure = temporal.api.failure.v1.IFailure;

export interface HistoryEntry {
  eventId: number;
  at: string;
  /** As the Web UI names it: ActivityTaskScheduled, MarkerRecorded, TimerFired, ... */
  type: string;
  /** The activity (or local activity) the event is about. */
  activityType?: string;
  summary?: string;
  attempt?: number;
  failure?: string;
  /** Anything else worth a line: the update's name, a search attribute's value, who terminated. */
  detail?: string;
}

export interface WorkflowStory {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  closeTime: string | null;
  historyLength: number;
  entries: HistoryEntry[];
}

const EventType = temporal.api.enums.v1.EventType;

/** EVENT_TYPE_ACTIVITY_TASK_SCHEDULED → ActivityTaskScheduled. */
function typeName(e: HistoryEvent): string {
  const name = EventType[e.eventType ?? 0] ?? 'EVENT_TYPE_UNSPECIFIED';
  return name
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
}

const INTERNAL = new Set(['WorkflowTaskScheduled', 'WorkflowTaskStarted', 'WorkflowTaskCompleted']);

function decode(payload: Payload | null | undefined): unknown {
  if (!payload) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(payload as never);
  } catch {
    return undefined;
  }
}

/** The failure's message with its causes ("activity failed: PSP answered 503"). */
export function failureMessage(failure: Failure | null | undefined): string | undefined {
  const parts: string[] = [];
  for (let f = failure; f && parts.length < 4; f = f.cause) if (f.message) parts.push(f.message);
  return parts.length > 0 ? parts.join(': ') : undefined;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** What one event says, beyond its type and time (the activity it is about comes from `scheduled`). */
function describeEvent(e: HistoryEvent, scheduled: Map<number, { activityType?: string; summary?: string }>): Omit<HistoryEntry, 'eventId' | 'at' | 'type'> {
  const summary = str(decode(e.userMetadata?.summary));
  const a = e;
  const of = (id: unknown) => scheduled.get(Number(id ?? 0)) ?? {};
  if (a.activityTaskScheduledEventAttributes)
    return { activityType: a.activityTaskScheduledEventAttributes.activityType?.name ?? undefined, ...(summary ? { summary } : {}) };
  if (a.activityTaskStartedEventAttributes) {
    const s = a.activityTaskStartedEventAttributes;
    return { ...of(s.scheduledEventId), attempt: s.attempt ?? undefined, ...(s.lastFailure ? { failure: failureMessage(s.lastFailure) } : {}) };
  }
  if (a.activityTaskCompletedEventAttributes) return of(a.activityTaskCompletedEventAttributes.scheduledEventId);
  if (a.activityTaskFailedEventAttributes)
    return { ...of(a.activityTaskFailedEventAttributes.scheduledEventId), failure: failureMessage(a.activityTaskFailedEventAttributes.failure) };
  if (a.activityTaskTimedOutEventAttributes)
    return { ...of(a.activityTaskTimedOutEventAttributes.scheduledEventId), failure: failureMessage(a.activityTaskTimedOutEventAttributes.failure) };
  if (a.activityTaskCancelRequestedEventAttributes) return of(a.activityTaskCancelRequestedEventAttributes.scheduledEventId);
  if (a.activityTaskCanceledEventAttributes) return of(a.activityTaskCanceledEventAttributes.scheduledEventId);
  if (a.markerRecordedEventAttributes) {
    const m = a.markerRecordedEventAttributes;
    // A local activity's marker: its type is in the marker's data (the core SDK's JSON).
    const data = decode(m.details?.data?.payloads?.[0]) as { activity_type?: string } | undefined;
    return {
      ...(data?.activity_type ? { activityType: data.activity_type } : { detail: m.markerName ?? undefined }),
      ...(summary ? { summary } : {}),
      ...(m.failure ? { failure: failureMessage(m.failure) } : {}),
    };
  }
  if (a.timerStartedEventAttributes) return summary ? { summary } : {};
  if (a.workflowExecutionUpdateAcceptedEventAttributes)
    return { detail: `update ${a.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input?.name ?? ''}`.trim() };
  if (a.workflowExecutionUpdateCompletedEventAttributes) {
    const o = a.workflowExecutionUpdateCompletedEventAttributes.outcome;
    return o?.failure ? { failure: failureMessage(o.failure) } : { detail: `answered ${JSON.stringify(decode(o?.success?.payloads?.[0]) ?? null)}` };
  }
  if (a.upsertWorkflowSearchAttributesEventAttributes) {
    const fields = a.upsertWorkflowSearchAttributesEventAttributes.searchAttributes?.indexedFields ?? {};
    return {
      detail: Object.entries(fields)
        .map(([k, v]) => `${k} = ${JSON.stringify(decode(v))}`)
        .join(', '),
    };
  }
  if (a.workflowExecutionTerminatedEventAttributes)
    return {
      detail: `terminated by ${a.workflowExecutionTerminatedEventAttributes.identity || 'unknown'}: ${a.workflowExecutionTerminatedEventAttributes.reason ?? ''}`,
    };
  if (a.workflowExecutionCancelRequestedEventAttributes)
    return { detail: `cancel requested by ${a.workflowExecutionCancelRequestedEventAttributes.identity || 'unknown'}` };
  if (a.workflowExecutionFailedEventAttributes) return { failure: failureMessage(a.workflowExecutionFailedEventAttributes.failure) };
  if (a.workflowTaskFailedEventAttributes) return { failure: failureMessage(a.workflowTaskFailedEventAttributes.failure) };
  if (a.workflowExecutionCompletedEventAttributes)
    return { detail: JSON.stringify(decode(a.workflowExecutionCompletedEventAttributes.result?.payloads?.[0]) ?? null) };
  if (a.startChildWorkflowExecutionInitiatedEventAttributes)
    return { detail: `child ${a.startChildWorkflowExecutionInitiatedEventAttributes.workflowId}`, ...(summary ? { summary } : {}) };
  if (a.workflowExecutionStartedEventAttributes) {
    const started = a.workflowExecutionStartedEventAttributes;
    return { detail: `${started.workflowType?.name ?? ''} on ${started.taskQueue?.name ?? ''}${started.identity ? ` by ${started.identity}` : ''}` };
  }
  return {};
}

/** The history's events as entries (workflow-task bookkeeping left out). */
export function decodeHistory(events: readonly HistoryEvent[]): HistoryEntry[] {
  const scheduled = new Map<number, { activityType?: string; summary?: string }>();
  const entries: HistoryEntry[] = [];
  for (const e of events) {
    const type = typeName(e);
    const described = describeEvent(e, scheduled);
    if (e.activityTaskScheduledEventAttributes)
      scheduled.set(Number(e.eventId ?? 0), { activityType: described.activityType, ...(described.summary ? { summary: described.summary } : {}) });
    if (INTERNAL.has(type)) continue;
    // Patch markers and the patch search attribute are replay bookkeeping, not steps of the saga.
    if (type === 'MarkerRecorded' && !described.activityType) continue;
    if (type === 'UpsertWorkflowSearchAttributes' && /^TemporalChangeVersion = /.test(described.detail ?? '') && !described.detail!.includes(', ')) continue;
    const at = optionalTsToDate(e.eventTime)?.toISOString() ?? new Date(0).toISOString();
    entries.push(
      Object.fromEntries(
        Object.entries({ eventId: Number(e.eventId ?? 0), at, type, ...described }).filter(([, v]) => v !== undefined && v !== ''),
      ) as unknown as HistoryEntry,
    );
  }
  return entries;
}

/** The latest run of a workflow with its decoded history; null when Temporal has none. */
export async function workflowStory(client: Client, workflowId: string): Promise<WorkflowStory | null> {
  const handle = client.workflow.getHandle(workflowId);
  try {
    const described = await handle.describe();
    const history = await client.workflow.getHandle(workflowId, described.runId).fetchHistory();
    // Payloads are encrypted (lib/node/payload-codec.ts): read them with the client's own codec.
    await decodePayloadsIn(history, client.options.loadedDataConverter.payloadCodecs);
    return {
      workflowId,
      runId: described.runId,
      status: described.status.name,
      startTime: described.startTime.toISOString(),
      closeTime: described.closeTime?.toISOString() ?? null,
      historyLength: described.historyLength,
      entries: decodeHistory(history.events ?? []),
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

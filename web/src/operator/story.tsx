// One order's story (GET /admin/orders/:id/story) as a timeline, with links to Temporal's Web UI,
// and the three actions (POST /admin/orders/:id/cancel|retry|reconcile), each with a reason.
import { useState } from 'preact/hooks';
import { api, ApiError, newIdempotencyKey } from '../lib/api';
import { usePoll } from '../lib/hooks';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import type { OperatorAction, OrderStory } from '../lib/types';
import { describeError } from '../lib/ui';

const POLL_MS = 5000;
type ActionName = 'cancel' | 'retry' | 'reconcile';
const ACTIONS: ActionName[] = ['cancel', 'retry', 'reconcile'];

export function StoryView(props: { session: Session; orderId: string; onAction: () => void }) {
  const t = useT();
  const [story, setStory] = useState<OrderStory>();
  const [error, setError] = useState<string>();
  const { refresh } = usePoll(
    async (signal) => {
      try {
        setStory(await api<OrderStory>(`/admin/orders/${encodeURIComponent(props.orderId)}/story`, { token: props.session.token, signal }));
        setError(undefined);
      } catch (err) {
        if (!signal.aborted) setError(describeError(t, err));
      }
    },
    POLL_MS,
    [props.orderId, props.session.token],
  );
  if (error) {
    return (
      <p class="notice error card" role="alert">
        {error}
      </p>
    );
  }
  if (!story || story.orderId !== props.orderId) return <p class="muted card">{t.loading}</p>;
  const o = story.order;
  const unavailable = Object.entries(story.sources).filter(([, status]) => status !== 'ok');
  return (
    <>
      <section class="card" aria-labelledby="story-summary" data-story-status={o.status}>
        <h2 id="story-summary">
          <span class={`badge status-${o.status.toLowerCase()}`}>{t.orderStatus[o.status]}</span>{' '}
          {o.failureReason && <span class="muted">{o.failureReason}</span>}
        </h2>
        <p>
          {t.money(o.totalAmount)} · {o.customerId} → {o.restaurantId} · {t.payment}: {story.payment?.status ?? '—'} · PSP:{' '}
          {story.psp?.findings.length ? story.psp.findings.map((f) => f.kind).join(', ') : 'OK'}
        </p>
        <p>
          {story.saga && (
            <a href={story.saga.url} target="_blank" rel="noreferrer">
              {t.openInTemporal} ({story.saga.status})
            </a>
          )}
          {story.repair && (
            <>
              {' · '}
              <a href={story.repair.url} target="_blank" rel="noreferrer">
                {t.repairWorkflow} ({story.repair.status})
              </a>
            </>
          )}
        </p>
        {unavailable.map(([source, why]) => (
          <p class="notice error" key={source}>
            {t.sourceUnavailable(t.sourceName[source] ?? source, why)}
          </p>
        ))}
      </section>
      <Actions
        session={props.session}
        orderId={props.orderId}
        onDone={() => {
          refresh();
          props.onAction();
        }}
      />
      <section class="card" aria-labelledby="timeline-title">
        <h2 id="timeline-title">{t.storyHeading(props.orderId)}</h2>
        <table class="table timeline">
          <thead>
            <tr>
              <th scope="col">{t.colTime}</th>
              <th scope="col">{t.colSource}</th>
              <th scope="col">{t.colWhat}</th>
            </tr>
          </thead>
          <tbody>
            {story.timeline.map((e, i) => (
              <tr key={i} data-source={e.source} data-kind={e.kind}>
                <td class="num">{t.time(e.at)}</td>
                <td>
                  <span class={`source source-${e.source}`}>{t.sourceName[e.source] ?? e.source}</span>
                </td>
                <td>
                  <span class="kind">{e.kind}</span>{' '}
                  {e.link ? (
                    <a href={e.link} target="_blank" rel="noreferrer">
                      {e.summary}
                    </a>
                  ) : (
                    e.summary
                  )}
                  {e.attempt && e.attempt > 1 ? <span class="muted"> (attempt {e.attempt})</span> : null}
                  {e.failure && <div class="failure">{e.failure}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

/** The three actions; one Idempotency-Key per attempt, reused only when the same action is retried after a lost answer. */
function Actions(props: { session: Session; orderId: string; onDone: () => void }) {
  const t = useT();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState<ActionName>();
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();
  const [pending, setPending] = useState<{ action: ActionName; reason: string; key: string }>();

  async function run(action: ActionName) {
    if (!reason.trim()) {
      setMessage({ kind: 'error', text: t.reasonRequired });
      return;
    }
    // A retry of the same request after a network failure keeps its key: the API does it once.
    const key = pending && pending.action === action && pending.reason === reason.trim() ? pending.key : newIdempotencyKey();
    setPending({ action, reason: reason.trim(), key });
    setBusy(action);
    setMessage(undefined);
    try {
      const done = await api<OperatorAction>(`/admin/orders/${encodeURIComponent(props.orderId)}/${action}`, {
        method: 'POST',
        token: props.session.token,
        body: { reason: reason.trim() },
        headers: { 'idempotency-key': key },
      });
      const text = done.result?.message ?? done.status;
      setMessage({ kind: 'ok', text: done.status === 'DONE' ? t.actionDone(text) : t.actionPending(text) });
      setPending(undefined);
      setReason('');
    } catch (err) {
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
        setPending(undefined);
        setMessage({ kind: 'error', text: t.actionRefused(err.code, err.message) });
      } else {
        setMessage({ kind: 'error', text: describeError(t, err) });
      }
    } finally {
      setBusy(undefined);
      props.onDone();
    }
  }

  return (
    <section class="card" aria-labelledby="actions-title">
      <h2 id="actions-title">{t.actionsHeading}</h2>
      <p class="hint">{t.actionHelp}</p>
      <label for="action-reason">{t.actionReason}</label>
      <textarea id="action-reason" rows={2} value={reason} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
      <div class="actions">
        {ACTIONS.map((a) => (
          <button type="button" key={a} class={`button ${a === 'cancel' ? 'danger' : 'secondary'}`} disabled={busy !== undefined} onClick={() => void run(a)}>
            {busy === a ? t.working : t.actionName[a]}
          </button>
        ))}
      </div>
      {message && (
        <p class={`notice ${message.kind === 'error' ? 'error' : 'ok'}`} role={message.kind === 'error' ? 'alert' : 'status'} data-action-result>
          {message.text}
        </p>
      )}
    </section>
  );
}

// Lets the Temporal Web UI in this browser decrypt workflow payloads: POST /codec/session keeps the
// admin token in an HttpOnly cookie that only the API's /codec/ endpoint receives, which the Web UI
// sends with "Include cross-origin credentials" on (docs/runbook.md, "Reading encrypted histories").
import { useState } from 'preact/hooks';
import { api } from '../lib/api';
import { useT } from '../lib/i18n';
import type { Session } from '../lib/session';
import { describeError } from '../lib/ui';

export function CodecAccess(props: { session: Session }) {
  const t = useT();
  const [state, setState] = useState<'idle' | 'busy' | 'done'>('idle');
  const [error, setError] = useState<string>();
  const enable = async () => {
    setState('busy');
    setError(undefined);
    try {
      await api<undefined>('/codec/session', { method: 'POST', token: props.session.token });
      setState('done');
    } catch (err) {
      setError(describeError(t, err));
      setState('idle');
    }
  };
  return (
    <section class="card" aria-labelledby="codec-title">
      <h2 id="codec-title">{t.codecHeading}</h2>
      <p class="hint">{t.codecHelp}</p>
      <button type="button" class="button secondary small" onClick={() => void enable()} disabled={state === 'busy'}>
        {t.codecEnable}
      </button>
      {state === 'done' && (
        <p class="notice" role="status">
          {t.codecDone}
        </p>
      )}
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

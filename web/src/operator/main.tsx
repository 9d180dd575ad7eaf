// The operator's desk: find an order (by id, customer or restaurant), the orders that need attention,
// an order's story across every service, and the three audited actions. Admin token; the same HTTP
// API as any client (GET /admin/orders, GET /admin/orders/:id/story, POST /admin/orders/:id/<action>).
import { useEffect, useState } from 'preact/hooks';
import { useT } from '../lib/i18n';
import { mount, Shell, useConsoleSession } from '../lib/ui';
import { Attention } from './attention';
import { CodecAccess } from './codec';
import { Search } from './search';
import { StoryView } from './story';

/** The selected order lives in the hash (#/o/<orderId>), so a story can be linked and reloaded. */
function useSelectedOrder(): [string | undefined, (orderId: string) => void] {
  const read = () => /^#\/o\/([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
  const [orderId, setOrderId] = useState<string | undefined>(read);
  useEffect(() => {
    const onHash = () => setOrderId(read());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return [orderId, (id) => (location.hash = `#/o/${id}`)];
}

function OperatorDesk() {
  const t = useT();
  const { session, signOut, signInPage } = useConsoleSession('admin', { title: t.operatorTitle, label: t.operatorTokenLabel, help: t.operatorTokenHelp });
  const [orderId, select] = useSelectedOrder();
  // Bumped after each action, so the attention list reads again at once.
  const [version, setVersion] = useState(0);
  if (!session) return signInPage;
  return (
    <Shell title={t.operatorTitle} session={session} onSignOut={signOut}>
      <div class="page-head">
        <p class="eyebrow">{t.operatorTitle}</p>
        <h1 tabIndex={-1}>{orderId ? t.storyHeading(orderId) : t.operatorTitle}</h1>
      </div>
      <div class="desk">
        <div class="desk-side">
          <Search session={session} onSelect={select} selected={orderId} />
          <Attention session={session} onSelect={select} selected={orderId} version={version} />
          <CodecAccess session={session} />
        </div>
        <div class="desk-main">
          {orderId ? <StoryView session={session} orderId={orderId} onAction={() => setVersion((v) => v + 1)} /> : <p class="empty card">{t.storyEmpty}</p>}
        </div>
      </div>
    </Shell>
  );
}

mount(OperatorDesk);
